// The Runtime facade: spec -> loaded kernel. It only sequences the stages
//   guard -> uri -> memo -> disk cache -> render -> NVRTC -> store -> load
// and owns the in-process memo (single flight per kernel).
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "cuda_driver.hpp"
#include "gpu_arch.hpp"
#include "kernel_spec.hpp"
#include "loaded_module.hpp"
#include "render.hpp"

namespace kjit {

namespace cache {
class SqliteStore;
}

// Where a lookup found its kernel.
enum class Origin { kMemory, kDisk, kCompiled };
const char* origin_name(Origin origin);  // "memory", "disk", "compiled"

// Everything known about one compiled kernel; immutable apart from its per-device modules.
struct KernelRecord {
  KernelSpec spec;
  std::string uri;
  std::string key;
  GpuArch arch;
  std::string cubin;
  std::vector<std::string> entry_points;
  double compile_ms = 0;
  LoadedModule module{&cubin};
};

// What a lookup returns: a handle to the record plus where this lookup found it.
class Kernel {
 public:
  Kernel(std::shared_ptr<KernelRecord> record, Origin origin)
      : record_(std::move(record)), origin_(origin) {}

  const KernelSpec& spec() const { return record_->spec; }
  const std::string& uri() const { return record_->uri; }
  const std::string& key() const { return record_->key; }
  const GpuArch& arch() const { return record_->arch; }
  const std::string& cubin() const { return record_->cubin; }
  double compile_ms() const { return record_->compile_ms; }
  Origin origin() const { return origin_; }

  // The kernel's (first) entry point on `device` (-1: the current context's device), loaded on
  // first use. Throws CudaError without a GPU.
  CUfunction function(int device = -1) const;
  CUfunction function(const std::string& entry_point, int device = -1) const;
  // An `extern "C"` int the module defines (launch facts such as its shared memory size).
  int global_int(const std::string& name, int device = -1) const;

 private:
  std::shared_ptr<KernelRecord> record_;
  Origin origin_;
};

struct RuntimeOptions {
  bool disk_cache = true;  // false: in-memory cache only
  std::filesystem::path cache_dir;
  bool jit_disabled = false;                   // a miss on disk is an error instead of a compile
  std::uint64_t cache_max_bytes = 2ull << 30;  // least recently used evicted past this
  std::optional<std::filesystem::path> template_dir;

  // KJIT_CACHE, KJIT_CACHE_DIR (or the XDG default), KJIT_CACHE_MAX_BYTES, KJIT_DISABLE_JIT,
  // KJIT_TEMPLATE_DIR.
  static RuntimeOptions from_environment();
};

class Runtime {
 public:
  explicit Runtime(RuntimeOptions options = RuntimeOptions::from_environment());
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // The process-wide runtime, configured from the environment.
  static Runtime& global();

  // The kernel for `spec` on the current device's architecture.
  Kernel get(const KernelSpec& spec);
  // The kernel for `spec` compiled for `arch` (which need not be present).
  Kernel get(const KernelSpec& spec, const GpuArch& arch);

  cache::SqliteStore& store() { return *store_; }

  // Why kernels this runtime compiles are not being saved on disk although the disk tier was
  // asked for (unusable directory, full or read-only disk); empty when they are, or when the
  // disk tier is off (KJIT_CACHE=0). `kjit warm` and `kjit compile` fail on it.
  std::string disk_problem() const;

 private:
  std::shared_ptr<KernelRecord> load_or_compile(const KernelSpec& spec, const GpuArch& arch,
                                                Origin* origin);

  RuntimeOptions options_;
  std::unique_ptr<cache::SqliteStore> store_;
  mutable std::mutex disk_problem_mutex_;
  std::string disk_problem_;
  std::atomic<bool> disk_writes_refused_{false};
  const TemplateLibrary* templates_ = nullptr;
  std::unique_ptr<TemplateLibrary> owned_templates_;  // when KJIT_TEMPLATE_DIR is set

  // What the memo is keyed by: the URI's fields and the arch, compared as values. (Formatting
  // the URI on every call cost most of a lookup's microsecond.) Two specs share an entry
  // exactly when their URIs and arches are equal.
  struct MemoKey {
    std::string family;
    DType dtype_q, dtype_kv, dtype_o, dtype_idx;
    int head_dim;
    bool use_sinks, use_swa, use_logits_cap;
    int arch;

    MemoKey(const KernelSpec& spec, const GpuArch& gpu_arch);
    bool operator==(const MemoKey& other) const;
  };
  struct MemoKeyHash {
    std::size_t operator()(const MemoKey& key) const;
  };

  std::mutex memo_mutex_;
  std::unordered_map<MemoKey, std::shared_future<std::shared_ptr<KernelRecord>>, MemoKeyHash> memo_;
};

}  // namespace kjit
