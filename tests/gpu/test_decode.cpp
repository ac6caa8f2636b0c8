// GPU correctness of the batch decode kernels against a float64 host reference computed over
// the values exactly as stored. Exits 77 (CTest: skipped) when no CUDA device is present.
//
// Every allowed (dtype_q, dtype_kv) pair x head_dim {64, 128} x sinks x sliding window (and the
// logits cap at head_dim 64) runs on shapes that together cover batch {1, 2, 3, 5, 7, 64},
// kv_len {1, 15, 16, 17, 1000, 4096, 9000, ...} (uneven last pages), page_size {1, 16, 32, 64} and
// GQA group {1, 8, 16, 32}; head_dim 256 runs for bf16 and e4m3 KV. Each case runs three
// schedules against one reference: the device's own, split-KV forced and split-KV forbidden.
// Inputs are random (fixed, printed seed), pages are shuffled, outputs poisoned with NaN before
// each launch.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "batch_decode_plan.hpp"
#include "cuda_driver.hpp"
#include "errors.hpp"
#include "guard.hpp"
#include "host_dtypes.hpp"
#include "loaded_module.hpp"
#include "runtime.hpp"

namespace {

using kjit::DType;
using kjit::testing::decode;
using kjit::testing::fill_random;

// Owns a device allocation.
class DeviceBuffer {
 public:
  explicit DeviceBuffer(std::size_t bytes) : bytes_(std::max<std::size_t>(bytes, 16)) {
    KJIT_CUDA_CHECK(kjit::cuda_driver().cuMemAlloc(&pointer_, bytes_));
  }
  template <typename T>
  explicit DeviceBuffer(const std::vector<T>& host) : DeviceBuffer(host.size() * sizeof(T)) {
    KJIT_CUDA_CHECK(
        kjit::cuda_driver().cuMemcpyHtoD(pointer_, host.data(), host.size() * sizeof(T)));
  }
  ~DeviceBuffer() { kjit::cuda_driver().cuMemFree(pointer_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* get() const { return reinterpret_cast<void*>(pointer_); }
  void poison() { KJIT_CUDA_CHECK(kjit::cuda_driver().cuMemsetD8(pointer_, 0xFF, bytes_)); }
  template <typename T>
  std::vector<T> download(std::size_t count) const {
    std::vector<T> host(count);
    KJIT_CUDA_CHECK(kjit::cuda_driver().cuMemcpyDtoH(host.data(), pointer_, count * sizeof(T)));
    return host;
  }

 private:
  CUdeviceptr pointer_ = 0;
  std::size_t bytes_;
};

struct Shape {
  int batch;
  std::vector<int> kv_lens;  // cycled over the batch
  int page_size;
  int num_kv_heads;
  int group;
};

struct Variant {
  DType dtype_q, dtype_kv;
  int head_dim;
  bool sinks, swa, logits_cap;
};

struct Outcome {
  double rel_l2 = 0;
  double lse_error = 0;
  bool finite = true;
  int splits = 0;            // schedules that split at least one request
  int merged_in_grid = 0;    // ... and merged some of them in the decode grid
  int merged_by_kernel = 0;  // ... and merged some of them in the merge kernel
};

// The schedules each case runs: the device's, one that must split, one that must not.
constexpr int kScheduleSms[] = {0, 100000, 1};

// One launch checked against the reference.
Outcome run_case(const Variant& variant, const Shape& shape, std::mt19937_64& rng) {
  kjit::KernelSpec spec;
  spec.dtype_q = variant.dtype_q;
  spec.dtype_kv = variant.dtype_kv;
  spec.head_dim = variant.head_dim;
  spec.use_sinks = variant.sinks;
  spec.use_swa = variant.swa;
  spec.use_logits_cap = variant.logits_cap;
  const kjit::Kernel kernel = kjit::Runtime::global().get(spec);

  const int d = variant.head_dim, h_kv = shape.num_kv_heads, hq = h_kv * shape.group;
  const int batch = shape.batch, page_size = shape.page_size;
  std::vector<int> kv_len(batch), indptr(batch + 1, 0), last_page_len(batch);
  for (int b = 0; b < batch; ++b) {
    kv_len[b] = shape.kv_lens[b % shape.kv_lens.size()];
    const int pages = (kv_len[b] + page_size - 1) / page_size;
    indptr[b + 1] = indptr[b] + pages;
    last_page_len[b] = kv_len[b] - (pages - 1) * page_size;
  }
  const int num_pages = indptr[batch] + 3;  // a few pages no request uses
  std::vector<int> indices(num_pages);
  std::iota(indices.begin(), indices.end(), 0);
  std::shuffle(indices.begin(), indices.end(), rng);
  indices.resize(indptr[batch]);

  const int q_size = kjit::size_in_bytes(variant.dtype_q);
  const int kv_size = kjit::size_in_bytes(variant.dtype_kv);
  const std::size_t q_count = static_cast<std::size_t>(batch) * hq * d;
  const std::size_t kv_count = static_cast<std::size_t>(num_pages) * page_size * h_kv * d;
  std::vector<std::uint8_t> q(q_count * q_size), k(kv_count * kv_size), v(kv_count * kv_size);
  for (std::size_t i = 0; i < q_count; ++i) fill_random(variant.dtype_q, q.data(), i, rng);
  for (std::size_t i = 0; i < kv_count; ++i) fill_random(variant.dtype_kv, k.data(), i, rng);
  for (std::size_t i = 0; i < kv_count; ++i) fill_random(variant.dtype_kv, v.data(), i, rng);
  std::uniform_real_distribution<float> uniform(0.f, 1.f);
  std::vector<float> sinks(hq);
  for (float& sink : sinks) sink = -1.f + 4.f * uniform(rng);
  const float sm_scale = 1.f / std::sqrt(static_cast<float>(d));
  const float k_scale = 0.5f + uniform(rng), v_scale = 0.5f + uniform(rng);
  const float cap = 2.f + 10.f * uniform(rng);
  const int window_left = variant.swa ? static_cast<int>(rng() % 300) : -1;

  DeviceBuffer q_device(q), k_device(k), v_device(v), indices_device(indices), sinks_device(sinks);
  const int o_size = kjit::size_in_bytes(spec.output_dtype());
  DeviceBuffer o_device(q_count * o_size), lse_device(static_cast<std::size_t>(batch) * hq * 4);

  kjit::BatchDecodeShape decode_shape;
  decode_shape.num_qo_heads = hq;
  decode_shape.num_kv_heads = h_kv;
  decode_shape.head_dim = d;
  decode_shape.page_size = page_size;
  decode_shape.window_left = window_left;
  kjit::BatchDecodeParams params{};
  params.q = q_device.get();
  params.k = k_device.get();
  params.v = v_device.get();
  params.kv_indices = static_cast<const int*>(indices_device.get());
  params.sinks = variant.sinks ? static_cast<const float*>(sinks_device.get()) : nullptr;
  params.o = o_device.get();
  params.lse = static_cast<float*>(lse_device.get());
  params.q_stride_batch = static_cast<long long>(hq) * d;
  params.q_stride_head = d;
  params.kv_stride_page = static_cast<long long>(page_size) * h_kv * d;  // NHD
  params.kv_stride_token = static_cast<long long>(h_kv) * d;
  params.kv_stride_head = d;
  params.o_stride_batch = static_cast<long long>(hq) * d;
  params.o_stride_head = d;
  params.sm_scale = sm_scale;
  params.k_scale = k_scale;
  params.v_scale = v_scale;
  params.logits_soft_cap = cap;

  std::vector<std::vector<std::uint8_t>> outputs;
  std::vector<std::vector<float>> lses;
  Outcome outcome;
  for (int schedule_sms : kScheduleSms) {
    const std::size_t needed = kjit::BatchDecodePlan::workspace_bytes_needed(
        kernel, indptr, last_page_len, decode_shape, schedule_sms);
    DeviceBuffer workspace(needed);
    workspace.poison();
    const kjit::BatchDecodePlan plan(kernel, indptr, last_page_len, decode_shape, workspace.get(),
                                     needed, nullptr, schedule_sms);
    const kjit::BatchDecodeSchedule& schedule = plan.schedule();
    const bool split = schedule.num_slots > 0;
    outcome.splits += split;
    outcome.merged_in_grid += std::any_of(schedule.work_items.begin(), schedule.work_items.end(),
                                          [](const auto& item) { return item.group_chunks > 0; });
    outcome.merged_by_kernel += !schedule.merge_items.empty();
    // A split plan runs twice, both checked: the decode grid's merges must leave their counters
    // ready for the next run.
    for (int run = 0; run < (split ? 2 : 1); ++run) {
      o_device.poison();
      lse_device.poison();
      plan.run(params, nullptr);
      KJIT_CUDA_CHECK(kjit::cuda_driver().cuCtxSynchronize());
      outputs.push_back(o_device.download<std::uint8_t>(q_count * o_size));
      lses.push_back(lse_device.download<float>(static_cast<std::size_t>(batch) * hq));
    }
  }

  // float64 reference (DESIGN.md §5) over the stored values, one thread per slice of requests.
  struct Partial {
    std::vector<double> error_sq;
    double reference_sq = 0, lse_error = 0;
    bool finite = true;
  };
  const auto reference_of = [&](int b, Partial& partial) {
    std::vector<double> scores, accumulator(d);
    const int first = window_left >= 0 ? std::max(0, kv_len[b] - 1 - window_left) : 0;
    for (int h = 0; h < hq; ++h) {
      const int kv_head = h / shape.group;
      scores.assign(kv_len[b], -INFINITY);
      double max_score = variant.sinks ? sinks[h] : -INFINITY;
      for (int j = first; j < kv_len[b]; ++j) {
        const std::size_t base =
            ((static_cast<std::size_t>(indices[indptr[b] + j / page_size]) * page_size +
              j % page_size) *
                 h_kv +
             kv_head) *
            d;
        double dot = 0;
        for (int i = 0; i < d; ++i) {
          dot += decode(variant.dtype_q, q.data(), (static_cast<std::size_t>(b) * hq + h) * d + i) *
                 decode(variant.dtype_kv, k.data(), base + i);
        }
        double s = static_cast<double>(sm_scale) * k_scale * dot;
        if (variant.logits_cap) s = cap * std::tanh(s / cap);
        scores[j] = s;
        max_score = std::max(max_score, s);
      }
      double denominator = variant.sinks ? std::exp(sinks[h] - max_score) : 0;
      std::fill(accumulator.begin(), accumulator.end(), 0.0);
      for (int j = first; j < kv_len[b]; ++j) {
        const double p = std::exp(scores[j] - max_score);
        denominator += p;
        const std::size_t base =
            ((static_cast<std::size_t>(indices[indptr[b] + j / page_size]) * page_size +
              j % page_size) *
                 h_kv +
             kv_head) *
            d;
        for (int i = 0; i < d; ++i)
          accumulator[i] += p * decode(variant.dtype_kv, v.data(), base + i);
      }
      const double lse_reference = max_score + std::log(denominator);
      for (int i = 0; i < d; ++i) {
        const double reference = v_scale * accumulator[i] / denominator;
        partial.reference_sq += reference * reference;
        for (std::size_t run = 0; run < outputs.size(); ++run) {
          const double got = decode(spec.output_dtype(), outputs[run].data(),
                                    (static_cast<std::size_t>(b) * hq + h) * d + i);
          if (!std::isfinite(got)) partial.finite = false;
          partial.error_sq[run] += (got - reference) * (got - reference);
        }
      }
      for (const auto& lse : lses) {
        const float got_lse = lse[static_cast<std::size_t>(b) * hq + h];
        if (!std::isfinite(got_lse)) partial.finite = false;
        partial.lse_error = std::max(partial.lse_error, std::abs(got_lse - lse_reference) /
                                                            std::max(1.0, std::abs(lse_reference)));
      }
    }
  };
  const int workers = std::max(1u, std::min(16u, std::thread::hardware_concurrency()));
  std::vector<Partial> partials(workers);
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) {
    partials[w].error_sq.assign(outputs.size(), 0.0);
    threads.emplace_back([&, w] {
      for (int b = w; b < batch; b += workers) reference_of(b, partials[w]);
    });
  }
  for (auto& thread : threads) thread.join();
  std::vector<double> error_sq(outputs.size(), 0.0);
  double reference_sq = 0;
  for (const Partial& partial : partials) {
    reference_sq += partial.reference_sq;
    for (std::size_t run = 0; run < outputs.size(); ++run) error_sq[run] += partial.error_sq[run];
    outcome.lse_error = std::max(outcome.lse_error, partial.lse_error);
    outcome.finite = outcome.finite && partial.finite;
  }
  for (double error : error_sq) {
    outcome.rel_l2 = std::max(outcome.rel_l2, std::sqrt(error / std::max(reference_sq, 1e-300)));
  }
  return outcome;
}

}  // namespace

int main() {
  if (!kjit::cuda_available()) {
    try {
      kjit::cuda_driver();
    } catch (const kjit::CudaError& error) {
      std::printf("SKIPPED: GPU tests need a CUDA device: %s\n", error.what());
    }
    return 77;
  }
  const unsigned long long seed = std::getenv("KJIT_TEST_SEED")
                                      ? std::strtoull(std::getenv("KJIT_TEST_SEED"), nullptr, 10)
                                      : 20261122ull;
  std::printf("seed %llu (set KJIT_TEST_SEED to change)\n", seed);
  // KJIT_TEST_QUICK=1: bf16 query with bf16/e4m3 KV, d 64/128, plain and sinks+window, every
  // shape (so every page size and both split paths): small enough for compute-sanitizer.
  const bool quick =
      std::getenv("KJIT_TEST_QUICK") && std::string(std::getenv("KJIT_TEST_QUICK")) == "1";
  if (quick) std::printf("KJIT_TEST_QUICK=1: a subset of the variants\n");
  std::mt19937_64 rng(seed);
  kjit::current_device();

  const std::vector<Shape> shapes = {
      {1, {9000}, 16, 2, 8},  // > 32 chunks of 256 tokens: the merge kernel
      {7, {1, 15, 16, 17, 1000, 4096, 33}, 1, 4, 1},
      {64, {17, 1, 1000, 15, 4096, 16}, 16, 1, 8},
      {5, {100, 2000, 33, 64, 1}, 32, 8, 8},
      {3, {700, 64, 5}, 64, 2, 16},
      {2, {300, 50}, 16, 1, 32},
  };
  // Relative L2 bound for 16-bit outputs: bf16 rounding of each output element alone is up to
  // 2^-9 relative (~2e-3 RMS over random data); 1e-2 leaves room for float32 accumulation order.
  constexpr double kTolerance = 1e-2;
  constexpr double kLseTolerance = 1e-4;  // float32 log-sum-exp over <= 9000 terms

  int cases = 0, failures = 0, split_cases = 0, in_grid_cases = 0, kernel_cases = 0;
  double worst = 0, worst_lse = 0;
  for (DType dtype_q : {DType::kBF16, DType::kF16}) {
    for (DType dtype_kv : {DType::kBF16, DType::kF16, DType::kE4M3, DType::kE5M2}) {
      double pair_worst = 0;
      for (int head_dim : {64, 128, 256}) {
        // head_dim 256 for the dtypes gpt-oss-style serving uses, to bound the test's time.
        if (head_dim == 256 && dtype_kv != DType::kBF16 && dtype_kv != DType::kE4M3) continue;
        for (int flags = 0; flags < 8; ++flags) {
          const Variant variant{dtype_q,          dtype_kv,         head_dim,
                                (flags & 1) != 0, (flags & 2) != 0, (flags & 4) != 0};
          // The logits cap doubles the variant count; run it at head_dim 64 only.
          if (variant.logits_cap && head_dim != 64) continue;
          if (head_dim == 256 && flags != 1 && flags != 3) continue;
          if (quick &&
              (dtype_q != DType::kBF16 || dtype_kv == DType::kF16 || dtype_kv == DType::kE5M2 ||
               head_dim == 256 || (flags != 0 && flags != 3))) {
            continue;
          }
          kjit::KernelSpec spec;
          spec.dtype_q = dtype_q;
          spec.dtype_kv = dtype_kv;
          spec.use_sinks = variant.sinks;
          if (!kjit::validate(spec).ok()) continue;
          for (const Shape& shape : shapes) {
            const Outcome outcome = run_case(variant, shape, rng);
            ++cases;
            split_cases += outcome.splits > 0;
            in_grid_cases += outcome.merged_in_grid > 0;
            kernel_cases += outcome.merged_by_kernel > 0;
            pair_worst = std::max(pair_worst, outcome.rel_l2);
            worst_lse = std::max(worst_lse, outcome.lse_error);
            const bool ok = outcome.finite && outcome.rel_l2 <= kTolerance &&
                            outcome.lse_error <= kLseTolerance;
            if (!ok) {
              ++failures;
              std::printf(
                  "FAIL q=%s kv=%s d=%d sinks=%d swa=%d cap=%d batch=%d page=%d group=%d: "
                  "rel_l2=%.3g lse_err=%.3g finite=%d\n",
                  std::string(kjit::short_name(dtype_q)).c_str(),
                  std::string(kjit::short_name(dtype_kv)).c_str(), head_dim, variant.sinks,
                  variant.swa, variant.logits_cap, shape.batch, shape.page_size, shape.group,
                  outcome.rel_l2, outcome.lse_error, outcome.finite);
            }
          }
        }
      }
      worst = std::max(worst, pair_worst);
      if (pair_worst > 0) {
        std::printf("q=%-4s kv=%-4s  max rel L2 error %.2e\n",
                    std::string(kjit::short_name(dtype_q)).c_str(),
                    std::string(kjit::short_name(dtype_kv)).c_str(), pair_worst);
      }
    }
  }
  std::printf(
      "%d cases (x3 schedules; %d with split-KV: %d merged in the decode grid, %d by the merge "
      "kernel), max rel L2 %.2e (bound %.0e), max LSE error %.2e (bound %.0e)\n",
      cases, split_cases, in_grid_cases, kernel_cases, worst, kTolerance, worst_lse, kLseTolerance);
  const bool both_merges = in_grid_cases > 0 && kernel_cases > 0;
  if (!both_merges) std::printf("FAIL: the shapes no longer reach both merge paths\n");
  std::printf("%d passed, %d failed\n", cases - failures, failures);
  return failures == 0 && cases > 0 && both_merges ? 0 : 1;
}
