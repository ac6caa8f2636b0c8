// The split-KV schedule, checked by covering: every visible token of every (request, KV head)
// must be in exactly one work item, and every split request must be merged exactly once: all in
// the decode grid (when none has more than kInGridMergeMaxChunks chunks) or all by the merge
// kernel.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <set>
#include <vector>

#include "batch_decode_schedule.hpp"
#include "errors.hpp"

namespace {

// CTAs per SM of the head_dim 64 kernels on H100 (the plan asks the driver for the real figure).
constexpr int kCtasPerSm = 4;

struct Batch {
  std::vector<int> indptr{0};
  std::vector<int> last;
  std::vector<int> lengths;
};

Batch make_batch(const std::vector<int>& lengths, int page_size) {
  Batch batch;
  batch.lengths = lengths;
  for (int length : lengths) {
    const int pages = (length + page_size - 1) / page_size;
    batch.indptr.push_back(batch.indptr.back() + pages);
    batch.last.push_back(pages > 0 ? length - (pages - 1) * page_size : 0);
  }
  return batch;
}

// Checks coverage and slot bookkeeping; returns how many requests were split.
int check_schedule(const Batch& batch, const kjit::BatchDecodeShape& shape, int num_sms,
                   int ctas_per_sm = kCtasPerSm) {
  const auto schedule =
      kjit::schedule_batch_decode(batch.indptr, batch.last, shape, num_sms, ctas_per_sm);
  std::map<std::pair<int, int>, std::vector<int>> covered;  // (request, head) -> token counts
  std::set<int> slots;
  std::map<std::pair<int, int>, std::set<int>> in_grid;  // (request, head) -> its chunks' slots
  for (const auto& item : schedule.work_items) {
    CHECK(item.token_begin <= item.token_end);
    CHECK(item.page_base == batch.indptr[item.request]);
    auto& counts = covered[{item.request, item.kv_head}];
    counts.resize(batch.lengths[item.request] + 1);
    for (int token = item.token_begin; token < item.token_end; ++token) ++counts[token];
    if (item.partial_slot >= 0) {
      CHECK(slots.insert(item.partial_slot).second);  // each slot written once
      const bool tile_aligned = item.token_begin % kjit::kBatchDecodeTileTokens == 0;
      const bool window_start =
          shape.window_left >= 0 &&
          item.token_begin == std::max(0, batch.lengths[item.request] - 1 - shape.window_left);
      CHECK((tile_aligned || window_start));
    }
    if (item.group_chunks > 0) {
      CHECK(item.group_chunks > 1);
      CHECK(item.group_chunks <= kjit::kInGridMergeMaxChunks);
      CHECK(item.partial_slot >= item.group_first_slot);
      CHECK(item.partial_slot < item.group_first_slot + item.group_chunks);
      in_grid[{item.request, item.kv_head}].insert(item.partial_slot);
    }
  }
  for (std::size_t b = 0; b < batch.lengths.size(); ++b) {
    const int length = batch.lengths[b];
    const int first = shape.window_left >= 0 ? std::max(0, length - 1 - shape.window_left) : 0;
    for (int h = 0; h < shape.num_kv_heads; ++h) {
      const auto& counts = covered[{static_cast<int>(b), h}];
      REQUIRE(counts.size() == static_cast<std::size_t>(length + 1));
      for (int token = 0; token < length; ++token) {
        CAPTURE(b);
        CAPTURE(token);
        CHECK(counts[token] == (token >= first ? 1 : 0));
      }
    }
  }
  int split_slots = 0;
  std::set<int> split_requests;
  for (const auto& [group, group_slots] : in_grid) {
    // All of the group's chunks, each in its own slot of the group's consecutive ones.
    CHECK(*group_slots.rbegin() - *group_slots.begin() + 1 == static_cast<int>(group_slots.size()));
    split_slots += static_cast<int>(group_slots.size());
    split_requests.insert(group.first);
  }
  int most_chunks = 0;
  for (const auto& merge : schedule.merge_items) {
    CHECK(merge.num_chunks > 1);
    CHECK(split_requests.insert(merge.request).second);  // merged once
    split_slots += merge.num_chunks * shape.num_kv_heads;
    most_chunks = std::max(most_chunks, merge.num_chunks);
  }
  CHECK((in_grid.empty() || schedule.merge_items.empty()));  // one way or the other
  if (!schedule.merge_items.empty()) CHECK(most_chunks > kjit::kInGridMergeMaxChunks);
  CHECK(split_slots == schedule.num_slots);
  CHECK(static_cast<int>(slots.size()) == schedule.num_slots);
  for (std::size_t i = 1; i < schedule.work_items.size(); ++i) {  // longest first
    const auto& a = schedule.work_items[i - 1];
    const auto& b = schedule.work_items[i];
    CHECK(a.token_end - a.token_begin >= b.token_end - b.token_begin);
  }
  CHECK(schedule.workspace_bytes >=
        schedule.group_counters_offset + static_cast<std::size_t>(schedule.num_slots) *
                                             schedule.num_row_blocks * 2 * sizeof(int));
  if (schedule.chunk_tokens > 0) {  // split work fits in one wave of CTAs
    CHECK(schedule.work_items.size() <= static_cast<std::size_t>(num_sms) * ctas_per_sm);
  }
  return static_cast<int>(split_requests.size());
}

kjit::BatchDecodeShape gpt_oss_shape(int window_left = -1) {
  kjit::BatchDecodeShape shape;
  shape.num_qo_heads = 64;
  shape.num_kv_heads = 8;
  shape.head_dim = 64;
  shape.page_size = 16;
  shape.window_left = window_left;
  return shape;
}

}  // namespace

TEST_CASE("a full GPU's worth of requests is not split") {
  CHECK(check_schedule(make_batch(std::vector<int>(64, 4096), 16), gpt_oss_shape(), 132) == 0);
  CHECK(check_schedule(make_batch(std::vector<int>(256, 2048), 16), gpt_oss_shape(), 132) == 0);
}

TEST_CASE("one long request is split into balanced chunks") {
  const auto schedule =
      kjit::schedule_batch_decode(make_batch({32768}, 16).indptr, make_batch({32768}, 16).last,
                                  gpt_oss_shape(), 132, kCtasPerSm);
  CHECK(schedule.merge_items.size() == 1);
  CHECK(schedule.work_items.size() >= 132 * 2);  // enough CTAs for the GPU
  int shortest = 1 << 30, longest = 0;
  for (const auto& item : schedule.work_items) {
    shortest = std::min(shortest, item.token_end - item.token_begin);
    longest = std::max(longest, item.token_end - item.token_begin);
  }
  CHECK(longest - shortest <= kjit::kBatchDecodeTileTokens);
  CHECK(check_schedule(make_batch({32768}, 16), gpt_oss_shape(), 132) == 1);
}

TEST_CASE("a kernel that fits fewer CTAs on an SM gets a smaller wave: fewer, longer chunks") {
  const Batch one_long = make_batch({32768}, 16);
  const auto four =
      kjit::schedule_batch_decode(one_long.indptr, one_long.last, gpt_oss_shape(), 132, 4);
  const auto two =
      kjit::schedule_batch_decode(one_long.indptr, one_long.last, gpt_oss_shape(), 132, 2);
  // 528 slots allow 66 chunks per KV head, but 64 chunks of 512 tokens are as short as 66 would
  // be (32768 / 66 = 497, 512 in whole tiles); 264 slots allow 33: 993, 1008 in whole tiles.
  CHECK(four.work_items.size() == 64 * 8);
  CHECK(four.chunk_tokens == 512);
  CHECK(two.work_items.size() == 33 * 8);
  CHECK(two.chunk_tokens == 1008);
  CHECK(check_schedule(one_long, gpt_oss_shape(), 132, 2) == 1);
}

// The shortest longest item that one wave can hold, by brute force over a bound M: each request
// needs the fewest equal tile-aligned chunks no longer than M (one, if
// the request itself is no longer).
int shortest_longest_item(const std::vector<int>& lengths, int kv_heads, long long wave) {
  constexpr int kTile = kjit::kBatchDecodeTileTokens;
  for (int longest = kTile;; ++longest) {  // chunks are at least a tile long
    long long items = 0;
    int actual = 0;  // an unsplit request's item is as long as the request, not rounded to tiles
    for (int length : lengths) {
      int chunks = 1;
      while (chunks > 1 ? ((length + chunks - 1) / chunks + kTile - 1) / kTile * kTile > longest
                        : length > longest) {
        ++chunks;
      }
      items += chunks;
      actual =
          std::max(actual, chunks > 1 ? ((length + chunks - 1) / chunks + kTile - 1) / kTile * kTile
                                      : length);
    }
    if (items * kv_heads <= wave) return actual;
  }
}

TEST_CASE("split work fits in one wave, with the shortest longest item that does") {
  // S5 of DESIGN.md: 16 requests, lengths spaced geometrically from 128 to 16384.
  std::vector<int> lengths;
  for (int i = 0; i < 16; ++i) lengths.push_back(static_cast<int>(128 * std::pow(128.0, i / 15.0)));
  const Batch batch = make_batch(lengths, 16);
  // Waves of 4 CTAs per SM (head_dim 64 on H100) and of 2 (16-bit KV at head_dim 128).
  const std::pair<int, int> gpus[] = {{132, kCtasPerSm}, {114, kCtasPerSm}, {78, kCtasPerSm},
                                      {200, kCtasPerSm}, {132, 2},          {200, 2}};
  for (const auto& [sms, ctas_per_sm] : gpus) {
    CAPTURE(ctas_per_sm);
    CAPTURE(sms);
    const long long wave = static_cast<long long>(sms) * ctas_per_sm;
    const auto schedule =
        kjit::schedule_batch_decode(batch.indptr, batch.last, gpt_oss_shape(), sms, ctas_per_sm);
    REQUIRE(schedule.chunk_tokens > 0);
    CHECK(schedule.work_items.size() <= static_cast<std::size_t>(wave));
    int longest = 0;
    for (const auto& item : schedule.work_items) {
      longest = std::max(longest, item.token_end - item.token_begin);
    }
    // (One chunk size for every request, the previous schedule, needed 1088 tokens at 132 SMs.)
    CHECK(longest == shortest_longest_item(lengths, 8, wave));
    CHECK(check_schedule(batch, gpt_oss_shape(), sms, ctas_per_sm) > 0);
  }
}

TEST_CASE("splits are merged in the decode grid unless one has more than 32 chunks") {
  const auto in_grid = [](const kjit::BatchDecodeSchedule& schedule) {
    return std::count_if(schedule.work_items.begin(), schedule.work_items.end(),
                         [](const auto& item) { return item.group_chunks > 0; });
  };
  // S5 (at most 16 chunks per request): every split item is merged in the grid.
  std::vector<int> lengths;
  for (int i = 0; i < 16; ++i) lengths.push_back(static_cast<int>(128 * std::pow(128.0, i / 15.0)));
  const Batch s5 = make_batch(lengths, 16);
  const auto mixed =
      kjit::schedule_batch_decode(s5.indptr, s5.last, gpt_oss_shape(), 132, kCtasPerSm);
  CHECK(mixed.merge_items.empty());
  CHECK(in_grid(mixed) > 0);
  CHECK(in_grid(mixed) == std::count_if(mixed.work_items.begin(), mixed.work_items.end(),
                                        [](const auto& item) { return item.partial_slot >= 0; }));
  // S3 (64 chunks): all by the merge kernel, and so is a short request split beside it.
  const Batch s3 = make_batch({32768, 3000}, 16);
  const auto long_split =
      kjit::schedule_batch_decode(s3.indptr, s3.last, gpt_oss_shape(), 132, kCtasPerSm);
  CHECK(long_split.merge_items.size() == 2);
  CHECK(in_grid(long_split) == 0);
  CHECK(check_schedule(s5, gpt_oss_shape(), 132) > 0);
  CHECK(check_schedule(s3, gpt_oss_shape(), 132) == 2);
}

TEST_CASE("random batches: every visible token exactly once, with and without windows") {
  std::mt19937 rng(1122);
  for (int round = 0; round < 200; ++round) {
    const int batch = 1 + rng() % 20;
    const int page_size = std::vector<int>{1, 16, 32, 64}[rng() % 4];
    std::vector<int> lengths(batch);
    for (int& length : lengths) length = rng() % 3 == 0 ? rng() % 40 : rng() % 20000;
    auto shape = gpt_oss_shape(rng() % 2 ? -1 : static_cast<int>(rng() % 300));
    shape.page_size = page_size;
    shape.num_kv_heads = 1 + rng() % 8;
    shape.num_qo_heads = shape.num_kv_heads * std::vector<int>{1, 4, 8, 16, 32}[rng() % 5];
    check_schedule(make_batch(lengths, page_size), shape, 1 + rng() % 200, 1 + rng() % 4);
  }
}

TEST_CASE("groups larger than 16 query heads take several row blocks") {
  auto shape = gpt_oss_shape();
  shape.num_kv_heads = 1;  // group 64
  const auto schedule = kjit::schedule_batch_decode({0, 2}, {16}, shape, 132, kCtasPerSm);
  CHECK(schedule.num_row_blocks == 4);
}

TEST_CASE("inconsistent page tables are rejected") {
  const auto shape = gpt_oss_shape();
  CHECK_THROWS_AS(kjit::schedule_batch_decode({0, 2}, {17}, shape, 132, kCtasPerSm),
                  kjit::InvalidArgument);
  CHECK_THROWS_AS(kjit::schedule_batch_decode({0, 2}, {0}, shape, 132, kCtasPerSm),
                  kjit::InvalidArgument);
  CHECK_THROWS_AS(kjit::schedule_batch_decode({0, 2, 1}, {5, 5}, shape, 132, kCtasPerSm),
                  kjit::InvalidArgument);
  CHECK_THROWS_AS(kjit::schedule_batch_decode({0, 2, 3}, {5}, shape, 132, kCtasPerSm),
                  kjit::InvalidArgument);
  auto bad_heads = shape;
  bad_heads.num_kv_heads = 3;
  CHECK_THROWS_AS(kjit::schedule_batch_decode({0, 2}, {5}, bad_heads, 132, kCtasPerSm),
                  kjit::InvalidArgument);
}
