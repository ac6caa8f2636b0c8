// kjit-bench: batch decode speed on the current GPU, as ratios measured in one process.
//   kjit-bench [--json FILE] [--iterations N] [--flush read|write] (--help for the rest)
// Measures the device-to-device copy bandwidth (read + write), then times the DESIGN.md §6 shapes
// (gpt-oss heads: 64 query, 8 KV, page size 16) with BF16 and E4M3 KV, sinks off and on. L2 is
// flushed before every timed launch (see L2Flush); CUDA-event medians. Then JIT timings: cold
// NVRTC compile, a fresh process loading from disk, and an in-process repeat lookup.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <numeric>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "batch_decode_plan.hpp"
#include "cuda_driver.hpp"
#include "loaded_module.hpp"
#include "nvrtc_compiler.hpp"
#include "runtime.hpp"

namespace {

using nlohmann::json;

constexpr int kQoHeads = 64, kKvHeads = 8;
// --page-size N: tokens per page (the kernel takes any; DESIGN.md's shapes use 16).
int page_size = 16;
// --hnd: pages laid out [page, kv_head, token, d] (FlashInfer's HND) instead of NHD, where one
// head's row of a token is only d * kv_bytes contiguous bytes (64 for FP8 at d 64).
bool hnd_layout = false;
bool sequential_pages = false;
// --schedule-sms N: plan as if the GPU had N SMs (split-KV experiments: more or fewer, longer
// or shorter chunks than the device's own count gives).
int schedule_sms = 0;

struct Shape {
  std::string name;
  int batch;
  std::vector<int> lengths;  // cycled over the batch
  int head_dim;
  int window_left;
};

std::vector<Shape> shapes() {
  std::vector<int> mixed;  // S5: 16 lengths spaced geometrically from 128 to 16384
  for (int i = 0; i < 16; ++i) mixed.push_back(static_cast<int>(128 * std::pow(128.0, i / 15.0)));
  return {{"S1", 64, {4096}, 64, -1},  {"S2", 64, {4096}, 128, -1}, {"S3", 1, {32768}, 64, -1},
          {"S4", 256, {2048}, 64, -1}, {"S5", 16, mixed, 64, -1},   {"S6", 64, {4096}, 64, 127}};
}

// The pieces of `text` between separators (empty pieces kept).
std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> pieces;
  for (std::size_t begin = 0;;) {
    const std::size_t end = text.find(separator, begin);
    pieces.push_back(text.substr(begin, end - begin));
    if (end == std::string::npos) return pieces;
    begin = end + 1;
  }
}

// --shape B:L[,L...]:D[:W]: batch B, KV lengths L cycled over the batch, head_dim D, sliding
// window W (window_left; none if left out). Named by the argument itself.
Shape parse_shape(const std::string& text) {
  Shape shape{text, 0, {}, 0, -1};
  const std::vector<std::string> fields = split(text, ':');
  const auto number = [&](const std::string& field) {
    char* end = nullptr;
    const long value = std::strtol(field.c_str(), &end, 10);
    if (field.empty() || *end != '\0' || value < 0 || value > (1 << 24)) {
      throw std::invalid_argument(
          fmt::format("--shape {}: '{}' is not a count (expected B:L[,L...]:D[:W])", text, field));
    }
    return static_cast<int>(value);
  };
  if (fields.size() < 3 || fields.size() > 4) {
    throw std::invalid_argument(fmt::format("--shape {}: expected B:L[,L...]:D[:W]", text));
  }
  shape.batch = number(fields[0]);
  for (const std::string& length : split(fields[1], ',')) shape.lengths.push_back(number(length));
  shape.head_dim = number(fields[2]);
  if (fields.size() == 4) shape.window_left = number(fields[3]);
  if (shape.batch < 1 || *std::min_element(shape.lengths.begin(), shape.lengths.end()) < 1) {
    throw std::invalid_argument(fmt::format("--shape {}: batch and lengths must be >= 1", text));
  }
  return shape;
}

class Buffer {
 public:
  explicit Buffer(std::size_t bytes) : bytes_(bytes) {
    KJIT_CUDA_CHECK(kjit::cuda_driver().cuMemAlloc(&pointer_, bytes));
  }
  ~Buffer() { kjit::cuda_driver().cuMemFree(pointer_); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  CUdeviceptr get() const { return pointer_; }
  void* ptr() const { return reinterpret_cast<void*>(pointer_); }
  std::size_t bytes() const { return bytes_; }

 private:
  CUdeviceptr pointer_ = 0;
  std::size_t bytes_;
};

// A plain streaming read of device memory: 16-byte loads, four in flight per thread, results
// folded so the loads stay. It empties L2 (the read flush) and gives each case its own bound: the
// time the same number of bytes takes to stream through the GPU with no paging, no math and no
// second kernel, launch and ramp included. NVRTC, like the kernels: the driver API has no
// read-only operation on device memory.
class StreamRead {
 public:
  StreamRead() {
    kjit::RenderedSource source;
    source.uri = source.file_name = "kjit_bench_stream_read.cu";
    source.source = R"(
extern "C" __global__ void kjit_bench_stream_read(const uint4* data, unsigned long long count,
                                                  unsigned* never_written /* null */) {
  unsigned folded = 0;
  const unsigned long long stride = static_cast<unsigned long long>(gridDim.x) * blockDim.x;
  unsigned long long i = blockIdx.x * blockDim.x + threadIdx.x;
  for (; i + 3 * stride < count; i += 4 * stride) {
    uint4 v[4];
#pragma unroll
    for (int j = 0; j < 4; ++j) v[j] = data[i + j * stride];
#pragma unroll
    for (int j = 0; j < 4; ++j) folded ^= v[j].x ^ v[j].y ^ v[j].z ^ v[j].w;
  }
  for (; i < count; i += stride) {
    const uint4 v = data[i];
    folded ^= v.x ^ v.y ^ v.z ^ v.w;
  }
  if (folded == 0x9e3779b9u && never_written != nullptr) *never_written = folded;  // keeps the loads
})";
    source.entry_points = {"kjit_bench_stream_read"};
    cubin_ = kjit::compile(source, kjit::device_arch(0)).bytes;
    module_ = std::make_unique<kjit::LoadedModule>(&cubin_);
    function_ = module_->function("kjit_bench_stream_read", 0);
    blocks_ = 4 * kjit::device_sm_count(0);
  }

  // Reads `bytes` (a multiple of 16) from `data`.
  void operator()(CUdeviceptr data, std::size_t bytes) const {
    unsigned long long count = bytes / 16;
    void* never_written = nullptr;
    void* arguments[] = {&data, &count, &never_written};
    KJIT_CUDA_CHECK(kjit::cuda_driver().cuLaunchKernel(function_, blocks_, 1, 1, 512, 1, 1, 0,
                                                       nullptr, arguments, nullptr));
  }

 private:
  std::string cubin_;
  std::unique_ptr<kjit::LoadedModule> module_;
  CUfunction function_ = nullptr;
  unsigned blocks_ = 0;
};

// Empties L2 before each timed launch, in one of two ways (--flush):
//   read:  a StreamRead of a 256 MiB buffer, which leaves L2 holding clean lines, as a model's
//          previous layer would;
//   write: a 256 MiB memset (the method of the first two sessions), which leaves all of L2
//          dirty: the timed kernel then pays for writing those lines back, a short one mostly.
// Either is one long operation, so the GPU is still busy with it when the host enqueues the
// start event and the launch: no host time lands inside the timed region.
class L2Flush {
 public:
  enum class Mode { kRead, kWrite };
  L2Flush(Mode mode, const StreamRead& read) : mode_(mode), read_(read) {}

  void operator()(int iteration) const {
    if (mode_ == Mode::kWrite) {
      KJIT_CUDA_CHECK(kjit::cuda_driver().cuMemsetD8Async(
          source_.get(), static_cast<unsigned char>(iteration), source_.bytes(), nullptr));
    } else {
      read_(source_.get(), source_.bytes());
    }
  }
  const char* name() const { return mode_ == Mode::kRead ? "read" : "write"; }

 private:
  Mode mode_;
  const StreamRead& read_;
  Buffer source_{256ull << 20};
};

// Median time in microseconds of `launch`, L2 flushed before each.
template <typename Launch>
double time_us(Launch&& launch, const L2Flush& flush, int iterations) {
  const kjit::CudaDriver& cu = kjit::cuda_driver();
  CUevent start, stop;
  KJIT_CUDA_CHECK(cu.cuEventCreate(&start, 0));
  KJIT_CUDA_CHECK(cu.cuEventCreate(&stop, 0));
  launch();  // warm-up
  std::vector<double> times;
  for (int i = 0; i < iterations; ++i) {
    flush(i);
    KJIT_CUDA_CHECK(cu.cuEventRecord(start, nullptr));
    launch();
    KJIT_CUDA_CHECK(cu.cuEventRecord(stop, nullptr));
    KJIT_CUDA_CHECK(cu.cuEventSynchronize(stop));
    float ms = 0;
    KJIT_CUDA_CHECK(cu.cuEventElapsedTime(&ms, start, stop));
    times.push_back(ms * 1e3);
  }
  cu.cuEventDestroy(start);
  cu.cuEventDestroy(stop);
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

// Fills device memory with random bytes valid for `dtype` (finite, moderate magnitudes).
void fill_random(const Buffer& buffer, kjit::DType dtype, std::mt19937_64& rng) {
  std::vector<std::uint8_t> block(64 << 20);
  for (std::size_t i = 0; i < block.size(); i += 2) {
    const std::uint64_t r = rng();
    if (dtype == kjit::DType::kE4M3) {
      // E4M3: any sign, exponent field 0..8 (subnormals included), any mantissa; never NaN.
      block[i] = static_cast<std::uint8_t>((r & 0x80) | (((r >> 8) % 9) << 3) | ((r >> 16) & 7));
      block[i + 1] =
          static_cast<std::uint8_t>(((r >> 24) & 0x80) | (((r >> 32) % 9) << 3) | ((r >> 40) & 7));
    } else {  // bf16 in about +-[0.125, 2)
      const std::uint16_t value = static_cast<std::uint16_t>(
          (r & 0x8000) | ((124 + (r >> 16) % 4) << 7) | ((r >> 24) & 0x7f));
      std::memcpy(&block[i], &value, 2);
    }
  }
  const kjit::CudaDriver& cu = kjit::cuda_driver();
  for (std::size_t offset = 0; offset < buffer.bytes(); offset += block.size()) {
    KJIT_CUDA_CHECK(cu.cuMemcpyHtoD(buffer.get() + offset, block.data(),
                                    std::min(block.size(), buffer.bytes() - offset)));
  }
}

kjit::KernelSpec spec_for(const Shape& shape, kjit::DType kv, bool sinks) {
  kjit::KernelSpec spec;
  spec.dtype_q = kjit::DType::kBF16;
  spec.dtype_kv = kv;
  spec.head_dim = shape.head_dim;
  spec.use_sinks = sinks;
  spec.use_swa = shape.window_left >= 0;
  return spec;
}

// What every timed case shares: the flush, the read bound's kernel, the copy bandwidth.
struct Measure {
  const L2Flush& flush;
  const StreamRead& read;
  double copy_bandwidth;
  int iterations;
};

json run_case(const Shape& shape, kjit::DType kv, bool sinks, const Measure& measure,
              std::mt19937_64& rng) {
  const kjit::Kernel kernel = kjit::Runtime::global().get(spec_for(shape, kv, sinks));
  std::vector<int> indptr{0}, last;
  long long visible_tokens = 0;
  for (int b = 0; b < shape.batch; ++b) {
    const int length = shape.lengths[b % shape.lengths.size()];
    const int pages = (length + page_size - 1) / page_size;
    indptr.push_back(indptr.back() + pages);
    last.push_back(length - (pages - 1) * page_size);
    visible_tokens += shape.window_left >= 0 ? std::min(length, shape.window_left + 1) : length;
  }
  std::vector<int> indices(indptr.back());
  std::iota(indices.begin(), indices.end(), 0);
  // Pages scattered, as in a long-running cache; --sequential-pages keeps them in order, to
  // measure what the scattering costs.
  if (!sequential_pages) std::shuffle(indices.begin(), indices.end(), rng);

  const int d = shape.head_dim, element = kjit::size_in_bytes(kv);
  const std::size_t page_bytes = static_cast<std::size_t>(page_size) * kKvHeads * d * element;
  Buffer k(page_bytes * indices.size()), v(page_bytes * indices.size());
  fill_random(k, kv, rng);
  fill_random(v, kv, rng);
  Buffer q(static_cast<std::size_t>(shape.batch) * kQoHeads * d * 2);
  fill_random(q, kjit::DType::kBF16, rng);
  Buffer o(q.bytes()), sinks_buffer(kQoHeads * 4), index_buffer(indices.size() * 4);
  fill_random(sinks_buffer, kjit::DType::kBF16, rng);  // any finite values
  KJIT_CUDA_CHECK(
      kjit::cuda_driver().cuMemcpyHtoD(index_buffer.get(), indices.data(), indices.size() * 4));

  kjit::BatchDecodeShape decode_shape{kQoHeads, kKvHeads, d, page_size, shape.window_left};
  const std::size_t workspace_bytes = kjit::BatchDecodePlan::workspace_bytes_needed(
      kernel, indptr, last, decode_shape, schedule_sms);
  Buffer workspace(std::max<std::size_t>(workspace_bytes, 256));
  const kjit::BatchDecodePlan plan(kernel, indptr, last, decode_shape, workspace.ptr(),
                                   workspace.bytes(), nullptr, schedule_sms);
  kjit::BatchDecodeParams params{};
  params.q = q.ptr();
  params.k = k.ptr();
  params.v = v.ptr();
  params.kv_indices = static_cast<const int*>(index_buffer.ptr());
  params.sinks = sinks ? static_cast<const float*>(sinks_buffer.ptr()) : nullptr;
  params.o = o.ptr();
  params.q_stride_batch = static_cast<long long>(kQoHeads) * d;
  params.q_stride_head = d;
  params.kv_stride_page = static_cast<long long>(page_size) * kKvHeads * d;
  params.kv_stride_token = hnd_layout ? d : static_cast<long long>(kKvHeads) * d;
  params.kv_stride_head = hnd_layout ? static_cast<long long>(page_size) * d : d;
  params.o_stride_batch = params.q_stride_batch;
  params.o_stride_head = d;
  params.sm_scale = 1.f / std::sqrt(static_cast<float>(d));
  params.k_scale = params.v_scale = 1.f;
  const double us = time_us([&] { plan.run(params, nullptr); }, measure.flush, measure.iterations);

  // Bytes that must move: visible K and V, q and o, the page table.
  const double bytes = 2.0 * visible_tokens * kKvHeads * d * element + 2.0 * q.bytes() +
                       4.0 * (indices.size() + indptr.size());
  // The bound for this case's size: the same bytes as one contiguous stream.
  const Buffer contiguous((static_cast<std::size_t>(bytes) + 15) / 16 * 16);
  KJIT_CUDA_CHECK(kjit::cuda_driver().cuMemsetD8(contiguous.get(), 0x5a, contiguous.bytes()));
  const double read_us = time_us([&] { measure.read(contiguous.get(), contiguous.bytes()); },
                                 measure.flush, measure.iterations);
  // Split requests, and where their partial results are merged.
  const kjit::BatchDecodeSchedule& schedule = plan.schedule();
  std::set<int> split_requests;
  for (const auto& item : schedule.work_items) {
    if (item.partial_slot >= 0) split_requests.insert(item.request);
  }
  const char* merge = split_requests.empty()         ? "none"
                      : schedule.merge_items.empty() ? "grid"
                                                     : "kernel";
  return {{"shape", shape.name},
          {"dtype_kv", std::string(kjit::short_name(kv))},
          {"sinks", sinks},
          {"us", us},
          {"gbps", bytes / us / 1e3},
          {"pct_copy", 100.0 * bytes / (us * 1e-6) / measure.copy_bandwidth},
          {"stream_read_us", read_us},
          {"pct_stream_read", 100.0 * read_us / us},
          {"work_items", schedule.work_items.size()},
          {"split_requests", split_requests.size()},
          {"merge", merge},
          {"layout", hnd_layout ? "HND" : "NHD"},
          {"page_size", page_size},
          {"pages", sequential_pages ? "sequential" : "shuffled"}};
}

double copy_bandwidth(const L2Flush& flush, int iterations) {
  Buffer source(1ull << 30), destination(1ull << 30);
  const kjit::CudaDriver& cu = kjit::cuda_driver();
  const double us = time_us(
      [&] {
        KJIT_CUDA_CHECK(
            cu.cuMemcpyDtoDAsync(destination.get(), source.get(), source.bytes(), nullptr));
      },
      flush, iterations);
  return 2.0 * source.bytes() / (us * 1e-6);
}

double elapsed_ms(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - since)
      .count();
}

// JIT figures for the S1 variants, each in a fresh cache directory.
json jit_timings(const char* self) {
  json rows = json::array();
  char pattern[] = "/tmp/kjit-bench-XXXXXX";
  const std::string directory = mkdtemp(pattern);
  for (kjit::DType kv : {kjit::DType::kBF16, kjit::DType::kE4M3}) {
    for (bool sinks : {false, true}) {
      const kjit::KernelSpec spec = spec_for(shapes()[0], kv, sinks);
      kjit::RuntimeOptions options;
      options.cache_dir = directory;
      kjit::Runtime runtime(options);
      auto start = std::chrono::steady_clock::now();
      const kjit::Kernel kernel = runtime.get(spec);
      kernel.function();
      const double cold_ms = elapsed_ms(start);
      // A fresh process: from exec to a launchable kernel, timed inside the child.
      const std::string command =
          fmt::format("KJIT_CACHE_DIR={} {} --load-one {} {} {}", directory, self,
                      kjit::short_name(kv), sinks ? 1 : 0, spec.head_dim);
      double disk_ms = -1;
      if (FILE* child = popen(command.c_str(), "r")) {
        if (std::fscanf(child, "%lf", &disk_ms) != 1) disk_ms = -1;
        pclose(child);
      }
      constexpr int kLookups = 200000;
      start = std::chrono::steady_clock::now();
      for (int i = 0; i < kLookups; ++i) runtime.get(spec);
      const double memo_ns = elapsed_ms(start) * 1e6 / kLookups;
      rows.push_back({{"uri", kernel.uri()},
                      {"cold_compile_ms", cold_ms},
                      {"fresh_process_disk_ms", disk_ms},
                      {"memo_lookup_ns", memo_ns}});
    }
  }
  std::filesystem::remove_all(directory);
  return rows;
}

// Child mode: time Runtime creation + disk lookup + module load of one S1 variant.
int load_one(const char* kv, const char* sinks, const char* head_dim) {
  const auto start = std::chrono::steady_clock::now();
  kjit::KernelSpec spec;
  spec.dtype_q = kjit::DType::kBF16;
  spec.dtype_kv = kjit::parse_dtype(kv);
  spec.use_sinks = std::string(sinks) == "1";
  spec.head_dim = std::atoi(head_dim);
  kjit::make_primary_context_current(0);  // context creation is not the cache's cost
  const auto loaded_from = std::chrono::steady_clock::now();
  const kjit::Kernel kernel = kjit::Runtime::global().get(spec);
  kernel.function();
  std::printf("%.3f\n", elapsed_ms(loaded_from));
  std::fprintf(stderr, "(origin %s, context %.1f ms)\n", kjit::origin_name(kernel.origin()),
               std::chrono::duration<double, std::milli>(loaded_from - start).count());
  return kernel.origin() == kjit::Origin::kDisk ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string json_path;
  int iterations = 20;
  bool skip_jit = false;
  std::string only_shape, only_kv;  // filters, for profiling one case
  std::vector<Shape> cases;         // --shape; S1-S6 when none
  L2Flush::Mode flush_mode = L2Flush::Mode::kRead;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--load-one" && i + 3 < argc) return load_one(argv[i + 1], argv[i + 2], argv[i + 3]);
    if (arg == "--only" && i + 1 < argc) {
      only_shape = argv[++i];
    } else if (arg == "--kv" && i + 1 < argc) {
      only_kv = argv[++i];
    } else if (arg == "--shape" && i + 1 < argc) {
      try {
        cases.push_back(parse_shape(argv[++i]));
      } catch (const std::invalid_argument& error) {
        std::fprintf(stderr, "kjit-bench: %s\n", error.what());
        return 2;
      }
    } else if (arg == "--hnd") {
      hnd_layout = true;
    } else if (arg == "--sequential-pages") {
      sequential_pages = true;
    } else if (arg == "--page-size" && i + 1 < argc) {
      page_size = std::atoi(argv[++i]);
      if (page_size < 1) {
        std::fprintf(stderr, "kjit-bench: --page-size takes a positive number of tokens\n");
        return 2;
      }
    } else if (arg == "--flush" && i + 1 < argc) {
      const std::string mode = argv[++i];
      if (mode != "read" && mode != "write") {
        std::fprintf(stderr, "kjit-bench: --flush takes read or write, got '%s'\n", mode.c_str());
        return 2;
      }
      flush_mode = mode == "read" ? L2Flush::Mode::kRead : L2Flush::Mode::kWrite;
    } else if (arg == "--schedule-sms" && i + 1 < argc) {
      schedule_sms = std::max(1, std::atoi(argv[++i]));
    } else if (arg == "--skip-jit") {
      skip_jit = true;
    } else if (arg == "--json" && i + 1 < argc) {
      json_path = argv[++i];
    } else if (arg == "--iterations" && i + 1 < argc) {
      iterations = std::max(3, std::atoi(argv[++i]));
    } else {
      std::fprintf(
          stderr,
          "usage: kjit-bench [--json FILE] [--iterations N] [--skip-jit] [--hnd (KV layout; "
          "default NHD)] [--page-size N (default 16)] [--sequential-pages] [--flush read|write "
          "(how "
          "L2 is emptied; default "
          "read)] [--schedule-sms N (plan split-KV as if with N SMs)] [--shape B:L[,L...]:D[:W] "
          "(instead of S1-S6; repeatable)] [--only S1 --kv e4m3 (profile one case)]\n");
      return 2;
    }
  }
  try {
    kjit::make_primary_context_current(0);
    const kjit::CudaDriver& cu = kjit::cuda_driver();
    CUdevice device = 0;
    char name[256] = {};
    cu.cuDeviceGet(&device, 0);
    cu.cuDeviceGetName(name, sizeof name, device);
    if (cases.empty()) cases = shapes();
    const StreamRead read;
    const L2Flush flush(flush_mode, read);
    const Measure measure{flush, read, copy_bandwidth(flush, iterations), iterations};
    const double copy = measure.copy_bandwidth;
    std::mt19937_64 rng(20261122);
    json rows = json::array();
    if (!only_shape.empty()) {  // one case (for ncu): no table
      for (const Shape& shape : cases) {
        if (shape.name != only_shape) continue;
        const kjit::DType kv = kjit::parse_dtype(only_kv.empty() ? "e4m3" : only_kv);
        std::printf("%s\n", run_case(shape, kv, true, measure, rng).dump().c_str());
      }
      return 0;
    }
    for (const Shape& shape : cases) {
      for (bool sinks : {false, true}) {
        for (kjit::DType kv : {kjit::DType::kBF16, kjit::DType::kE4M3}) {
          rows.push_back(run_case(shape, kv, sinks, measure, rng));
        }
        auto& bf16 = rows[rows.size() - 2];
        auto& e4m3 = rows[rows.size() - 1];
        e4m3["speedup_vs_bf16"] = bf16["us"].get<double>() / e4m3["us"].get<double>();
      }
    }
    for (std::size_t i = 0; i + 2 < rows.size(); i += 4) {  // sinks on vs off, same dtype
      for (int j = 0; j < 2; ++j) {
        rows[i + 2 + j]["sinks_cost_pct"] =
            100.0 * (rows[i + 2 + j]["us"].get<double>() / rows[i + j]["us"].get<double>() - 1.0);
      }
    }
    const json jit = skip_jit ? json::array() : jit_timings(argv[0]);

    std::printf(
        "device %s; copy bandwidth %.2f TB/s (read + write, 1 GiB); L2 flush: %s; "
        "%s pages of %d tokens, %s\n",
        name, copy / 1e12, flush.name(), hnd_layout ? "HND" : "NHD", page_size,
        sequential_pages ? "in order" : "shuffled");
    // %read: the time a contiguous stream of the same bytes takes (StreamRead), over the case's.
    // split: no, or where split requests are merged: in the decode grid or by the merge kernel.
    int width = 5;
    for (const Shape& shape : cases) width = std::max(width, static_cast<int>(shape.name.size()));
    std::printf("%-*s %-5s %-5s %9s %8s %7s %6s %9s %7s %6s\n", width, "shape", "kv", "sinks", "us",
                "GB/s", "%copy", "%read", "e4m3/bf16", "sinks%", "split");
    for (const auto& row : rows) {
      std::printf(
          "%-*s %-5s %-5s %9.1f %8.0f %7.1f %6.1f %9s %7s %6s\n", width,
          row["shape"].get<std::string>().c_str(), row["dtype_kv"].get<std::string>().c_str(),
          row["sinks"].get<bool>() ? "on" : "off", row["us"].get<double>(),
          row["gbps"].get<double>(), row["pct_copy"].get<double>(),
          row["pct_stream_read"].get<double>(),
          row.contains("speedup_vs_bf16")
              ? fmt::format("{:.2f}x", row["speedup_vs_bf16"].get<double>()).c_str()
              : "",
          row.contains("sinks_cost_pct")
              ? fmt::format("{:+.1f}", row["sinks_cost_pct"].get<double>()).c_str()
              : "",
          row["merge"].get<std::string>() == "none" ? "no"
                                                    : row["merge"].get<std::string>().c_str());
    }
    for (const auto& row : jit) {
      std::printf("JIT %s: cold compile %.0f ms, fresh process from disk %.2f ms, memo %.0f ns\n",
                  row["uri"].get<std::string>().c_str(), row["cold_compile_ms"].get<double>(),
                  row["fresh_process_disk_ms"].get<double>(), row["memo_lookup_ns"].get<double>());
    }
    if (!json_path.empty()) {
      std::ofstream(json_path) << json{
          {"device", name},
          {"copy_bandwidth", copy},
          {"l2_flush", flush.name()},
          {"rows", rows},
          {"jit", jit}}.dump(2);
    }
  } catch (const std::exception& error) {
    std::fprintf(stderr, "kjit-bench: %s\n", error.what());
    return 1;
  }
  return 0;
}
