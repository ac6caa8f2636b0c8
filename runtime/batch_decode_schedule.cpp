#include "batch_decode_schedule.hpp"

#include <algorithm>
#include <queue>
#include <utility>

#include <fmt/format.h>

#include "errors.hpp"

namespace kjit {
namespace {

std::size_t align256(std::size_t bytes) { return (bytes + 255) / 256 * 256; }

int round_up(int value, int multiple) { return (value + multiple - 1) / multiple * multiple; }

// How a request of `length` tokens (from a tile boundary) is cut into at most `pieces` equal
// chunks on tile boundaries (fewer when rounding to tiles leaves the last ones empty).
struct Chunking {
  int chunks;
  int chunk_length;
};
Chunking split_request(int length, int pieces) {
  if (pieces <= 1 || length <= kBatchDecodeTileTokens) return {1, length};
  const int chunk_length = round_up((length + pieces - 1) / pieces, kBatchDecodeTileTokens);
  return {(length + chunk_length - 1) / chunk_length, chunk_length};
}

void check_shape(const BatchDecodeShape& shape, std::size_t batch, std::size_t indptr_size) {
  if (shape.num_qo_heads <= 0 || shape.num_kv_heads <= 0 ||
      shape.num_qo_heads % shape.num_kv_heads != 0) {
    throw InvalidArgument(
        fmt::format("num_qo_heads ({}) must be a positive multiple of num_kv_heads ({})",
                    shape.num_qo_heads, shape.num_kv_heads));
  }
  if (shape.page_size <= 0) {
    throw InvalidArgument(fmt::format("page_size must be positive, got {}", shape.page_size));
  }
  if (batch == 0 || batch > 65535 * 64) {
    throw InvalidArgument(fmt::format("batch size {} is out of range", batch));
  }
  if (indptr_size != batch + 1) {
    throw InvalidArgument(
        fmt::format("kv_indptr has {} entries; batch + 1 = {} expected", indptr_size, batch + 1));
  }
}

}  // namespace

BatchDecodeSchedule schedule_batch_decode(const std::vector<int>& kv_indptr,
                                          const std::vector<int>& kv_last_page_len,
                                          const BatchDecodeShape& shape, int num_sms,
                                          int ctas_per_sm) {
  const std::size_t batch = kv_last_page_len.size();
  check_shape(shape, batch, kv_indptr.size());
  BatchDecodeSchedule schedule;
  const int group = shape.num_qo_heads / shape.num_kv_heads;
  schedule.num_row_blocks = (group + kBatchDecodeRows - 1) / kBatchDecodeRows;

  // Visible tokens of each request; `length` counts from the tile boundary chunks start on.
  std::vector<int> begin(batch), end(batch), length(batch);
  for (std::size_t b = 0; b < batch; ++b) {
    const int pages = kv_indptr[b + 1] - kv_indptr[b];
    if (kv_indptr[b] < 0 || pages < 0) {
      throw InvalidArgument(
          fmt::format("kv_indptr must be non-negative and non-decreasing "
                      "(entries {} and {}: {}, {})",
                      b, b + 1, kv_indptr[b], kv_indptr[b + 1]));
    }
    const int last = kv_last_page_len[b];
    if (pages > 0 && (last < 1 || last > shape.page_size)) {
      throw InvalidArgument(fmt::format("kv_last_page_len[{}] = {} must be in 1 .. page_size ({})",
                                        b, last, shape.page_size));
    }
    end[b] = pages > 0 ? (pages - 1) * shape.page_size + last : 0;
    begin[b] = shape.window_left >= 0 ? std::max(0, end[b] - 1 - shape.window_left) : 0;
    length[b] = end[b] - begin[b] / kBatchDecodeTileTokens * kBatchDecodeTileTokens;
  }

  // Split only when there are too few (request, KV head, row block) pairs to fill the GPU.
  std::vector<int> pieces(batch, 1);
  const long long pairs =
      static_cast<long long>(batch) * shape.num_kv_heads * schedule.num_row_blocks;
  const long long target = static_cast<long long>(std::max(num_sms, 1)) * std::max(ctas_per_sm, 1);
  if (pairs * 4 < target * 3) {
    // Water-filling: the request whose chunks are longest gets one more, while the work items
    // still fit in one wave of `target` CTAs and chunks stay at least kMinChunkTokens long. One
    // wave lasts as long as its longest item, and a second wave of a few short items would cost
    // a whole chunk's time (S5's mixed lengths made 592 items for 528 CTAs at the plain
    // total / target), so the aim is the shortest longest item that one wave holds. Stops when
    // the longest cannot be cut: further cuts elsewhere would only add merging.
    const long long items_per_chunk =
        static_cast<long long>(shape.num_kv_heads) * schedule.num_row_blocks;
    long long items = pairs;
    std::priority_queue<std::pair<int, std::size_t>> longest;  // (chunk length, request)
    for (std::size_t b = 0; b < batch; ++b) longest.push({length[b], b});
    while (!longest.empty()) {
      const auto [chunk_length, b] = longest.top();
      const int chunks = split_request(length[b], pieces[b]).chunks;
      Chunking finer{chunks, chunk_length};
      int more = pieces[b];
      while (finer.chunks <= chunks && finer.chunk_length >= kMinChunkTokens) {
        finer = split_request(length[b], ++more);  // rounding to tiles may need several steps
      }
      const long long new_items = items + (finer.chunks - chunks) * items_per_chunk;
      if (finer.chunk_length < kMinChunkTokens || new_items > target) break;
      longest.pop();
      pieces[b] = more;
      items = new_items;
      longest.push({finer.chunk_length, b});
    }
  }

  // Where split requests are merged: all in the decode grid, or all by the merge kernel. Mixing
  // the two puts both at the end of the launch, the grid's in-grid merges and then the kernel
  // (H100, 4 x 8192 tokens as 16 and 17 chunks: 34 us mixed, 31.1 us all in the grid, 31.9 us
  // all by the kernel).
  int most_chunks = 0;
  for (std::size_t b = 0; b < batch; ++b) {
    most_chunks = std::max(most_chunks, split_request(length[b], pieces[b]).chunks);
  }
  const bool merge_in_grid = most_chunks <= kInGridMergeMaxChunks;
  for (std::size_t b = 0; b < batch; ++b) {
    // Chunks start on tile boundaries and split the request evenly.
    const int aligned_begin = begin[b] / kBatchDecodeTileTokens * kBatchDecodeTileTokens;
    const auto [chunks, chunk_length] = split_request(length[b], pieces[b]);
    if (chunks > 1) schedule.chunk_tokens = std::max(schedule.chunk_tokens, chunk_length);
    const int first_slot = chunks > 1 ? schedule.num_slots : -1;
    const bool merged_in_grid = chunks > 1 && merge_in_grid;
    for (int h = 0; h < shape.num_kv_heads; ++h) {
      for (int c = 0; c < chunks; ++c) {
        BatchDecodeWorkItem item{};
        item.request = static_cast<int>(b);
        item.kv_head = h;
        item.token_begin = c == 0 ? begin[b] : aligned_begin + c * chunk_length;
        item.token_end = std::min(end[b], aligned_begin + (c + 1) * chunk_length);
        item.page_base = kv_indptr[b];
        item.partial_slot = chunks > 1 ? first_slot + h * chunks + c : -1;
        item.group_first_slot = merged_in_grid ? first_slot + h * chunks : 0;
        item.group_chunks = merged_in_grid ? chunks : 0;
        schedule.work_items.push_back(item);
      }
    }
    if (chunks > 1) {
      if (!merged_in_grid) {
        schedule.merge_items.push_back({static_cast<int>(b), first_slot, chunks, 0});
      }
      schedule.num_slots += shape.num_kv_heads * chunks;
    }
  }
  // Longest first, so the last wave is made of short items.
  std::stable_sort(schedule.work_items.begin(), schedule.work_items.end(),
                   [](const BatchDecodeWorkItem& a, const BatchDecodeWorkItem& b) {
                     return a.token_end - a.token_begin > b.token_end - b.token_begin;
                   });

  const std::size_t rows =
      static_cast<std::size_t>(schedule.num_slots) * schedule.num_row_blocks * kBatchDecodeRows;
  schedule.work_items_offset = 0;
  schedule.merge_items_offset = align256(schedule.work_items.size() * sizeof(BatchDecodeWorkItem));
  schedule.partial_o_offset = schedule.merge_items_offset +
                              align256(schedule.merge_items.size() * sizeof(BatchDecodeMergeItem));
  schedule.partial_lse_offset =
      schedule.partial_o_offset + align256(rows * shape.head_dim * sizeof(float));
  schedule.group_counters_offset = schedule.partial_lse_offset + align256(rows * sizeof(float));
  schedule.workspace_bytes =
      schedule.group_counters_offset + align256(static_cast<std::size_t>(schedule.num_slots) *
                                                schedule.num_row_blocks * 2 * sizeof(int));
  return schedule;
}

}  // namespace kjit
