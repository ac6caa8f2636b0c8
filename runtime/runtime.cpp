#include "runtime.hpp"

#include <chrono>
#include <ctime>

#include <fmt/format.h>

#include "cache/cache_dir.hpp"
#include "cache/compile_claim.hpp"
#include "cache/sqlite_store.hpp"
#include "cache_key.hpp"
#include "errors.hpp"
#include "guard.hpp"
#include "knobs.hpp"
#include "log.hpp"
#include "nvrtc_compiler.hpp"
#include "sha256.hpp"
#include "uri.hpp"

namespace kjit {
namespace {

// How long a process waits for another one compiling the same kernel before compiling it too.
constexpr std::chrono::milliseconds kClaimTimeout{60000};

std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string join(const std::vector<std::string>& parts) {
  std::string out;
  for (const std::string& part : parts) out += (out.empty() ? "" : " ") + part;
  return out;
}

// The disk tier, or memory when disabled or unusable; `problem` says why the disk is not used.
std::unique_ptr<cache::SqliteStore> open_store(const RuntimeOptions& options,
                                               std::string* problem) {
  if (!options.disk_cache) return cache::SqliteStore::open_in_memory();
  *problem = cache::prepare_cache_dir(options.cache_dir);
  if (problem->empty()) {
    try {
      return cache::SqliteStore::open(options.cache_dir);
    } catch (const CacheError& error) {
      *problem = error.what();
    }
  }
  log::warn("{}; kernels will be cached in memory only", *problem);
  return cache::SqliteStore::open_in_memory();
}

}  // namespace

const char* origin_name(Origin origin) {
  switch (origin) {
    case Origin::kMemory:
      return "memory";
    case Origin::kDisk:
      return "disk";
    case Origin::kCompiled:
      return "compiled";
  }
  return "unknown";
}

CUfunction Kernel::function(int device) const {
  return function(record_->entry_points.front(), device);
}

CUfunction Kernel::function(const std::string& entry_point, int device) const {
  if (device < 0) device = current_device();
  return record_->module.function(entry_point, device);
}

int Kernel::global_int(const std::string& name, int device) const {
  if (device < 0) device = current_device();
  return record_->module.global_int(name, device);
}

RuntimeOptions RuntimeOptions::from_environment() {
  RuntimeOptions options;
  options.disk_cache = knobs::cache_enabled();
  options.cache_dir = cache::default_cache_dir();
  options.jit_disabled = knobs::jit_disabled();
  try {
    options.cache_max_bytes = knobs::cache_max_bytes();
  } catch (const InvalidArgument& error) {
    log::warn("KJIT_CACHE_MAX_BYTES ignored: {}; using 2G", error.what());
  }
  if (auto dir = knobs::template_dir()) options.template_dir = *dir;
  return options;
}

Runtime::Runtime(RuntimeOptions options) : options_(std::move(options)) {
  store_ = open_store(options_, &disk_problem_);
  store_->set_max_bytes(static_cast<std::int64_t>(options_.cache_max_bytes));
  if (options_.template_dir) {
    owned_templates_ =
        std::make_unique<TemplateLibrary>(TemplateLibrary::from_directory(*options_.template_dir));
    templates_ = owned_templates_.get();
  } else {
    templates_ = &TemplateLibrary::embedded();
  }
}

Runtime::~Runtime() = default;

std::string Runtime::disk_problem() const {
  std::lock_guard<std::mutex> lock(disk_problem_mutex_);
  return disk_problem_;
}

Runtime& Runtime::global() {
  // Never destroyed: kernels may be launched from other static destructors.
  static Runtime* runtime = new Runtime();
  return *runtime;
}

Kernel Runtime::get(const KernelSpec& spec) { return get(spec, device_arch(current_device())); }

Runtime::MemoKey::MemoKey(const KernelSpec& spec, const GpuArch& gpu_arch)
    : family(spec.family),
      dtype_q(spec.dtype_q),
      dtype_kv(spec.dtype_kv),
      dtype_o(spec.output_dtype()),  // as the URI has it: unset means dtype_q
      dtype_idx(spec.dtype_idx),
      head_dim(spec.head_dim),
      use_sinks(spec.use_sinks),
      use_swa(spec.use_swa),
      use_logits_cap(spec.use_logits_cap),
      arch(gpu_arch.number()) {}

bool Runtime::MemoKey::operator==(const MemoKey& other) const {
  return family == other.family && dtype_q == other.dtype_q && dtype_kv == other.dtype_kv &&
         dtype_o == other.dtype_o && dtype_idx == other.dtype_idx && head_dim == other.head_dim &&
         use_sinks == other.use_sinks && use_swa == other.use_swa &&
         use_logits_cap == other.use_logits_cap && arch == other.arch;
}

std::size_t Runtime::MemoKeyHash::operator()(const MemoKey& key) const {
  std::size_t hash = std::hash<std::string>{}(key.family);
  for (const int field :
       {static_cast<int>(key.dtype_q), static_cast<int>(key.dtype_kv),
        static_cast<int>(key.dtype_o), static_cast<int>(key.dtype_idx), key.head_dim,
        key.use_sinks ? 1 : 0, key.use_swa ? 1 : 0, key.use_logits_cap ? 1 : 0, key.arch}) {
    hash = hash * 1000003u ^ static_cast<std::size_t>(field);
  }
  return hash;
}

Kernel Runtime::get(const KernelSpec& spec, const GpuArch& arch) {
  require_supported(spec, arch);
  const MemoKey memo_key(spec, arch);

  std::promise<std::shared_ptr<KernelRecord>> promise;
  std::shared_future<std::shared_ptr<KernelRecord>> existing;
  {
    std::lock_guard<std::mutex> lock(memo_mutex_);
    auto found = memo_.find(memo_key);
    if (found != memo_.end()) {
      existing = found->second;
    } else {
      memo_.emplace(memo_key, promise.get_future().share());
    }
  }
  // Found, or being built by another thread: wait for it outside the lock.
  if (existing.valid()) return Kernel(existing.get(), Origin::kMemory);

  // This thread owns the miss: everyone else asking for the same kernel waits on the future.
  try {
    Origin origin = Origin::kCompiled;
    std::shared_ptr<KernelRecord> record = load_or_compile(spec, arch, &origin);
    promise.set_value(record);
    return Kernel(std::move(record), origin);
  } catch (...) {
    promise.set_exception(std::current_exception());
    std::lock_guard<std::mutex> lock(memo_mutex_);
    memo_.erase(memo_key);  // a later call may try again
    throw;
  }
}

std::shared_ptr<KernelRecord> Runtime::load_or_compile(const KernelSpec& spec, const GpuArch& arch,
                                                       Origin* origin) {
  const auto start = std::chrono::steady_clock::now();
  const RenderedSource rendered = render(spec, *templates_);
  const std::string nvrtc = nvrtc_version();
  const std::vector<std::string> options = compile_options(arch);
  auto record = std::make_shared<KernelRecord>();
  record->spec = spec;
  record->uri = rendered.uri;
  record->key = cache_key(rendered, arch, nvrtc, options);
  record->arch = arch;
  record->entry_points = rendered.entry_points;

  auto find_stored = [&]() -> std::optional<cache::CacheEntry> {
    try {
      return store_->find(record->key);
    } catch (const CacheError& error) {
      log::warn("cache lookup failed ({}); compiling {}", error.what(), record->uri);
      return std::nullopt;
    }
  };
  std::optional<cache::CacheEntry> stored = find_stored();
  // A miss on disk: claim the key so that concurrent processes compile it once, then look
  // again: another process may have stored it between our miss and our claim.
  std::optional<cache::CompileClaim> claim;
  if (!stored && !options_.jit_disabled && store_->on_disk()) {
    claim.emplace(cache::CompileClaim::acquire(options_.cache_dir, record->key, kClaimTimeout));
    stored = find_stored();
  }
  if (stored) {
    record->cubin = std::move(stored->cubin);
    record->compile_ms = stored->compile_ms;
    *origin = Origin::kDisk;
    log::info("kernel {} for {}: disk ({:.2f} ms)", record->uri, arch.name(),
              std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                  .count());
    return record;
  }
  if (options_.jit_disabled) {
    throw Error(
        fmt::format("KJIT_DISABLE_JIT is set and {} for {} is not in the cache at {}; "
                    "build it with `kjit compile` or `kjit warm` first",
                    record->uri, arch.name(), store_->location()));
  }

  Cubin cubin = compile(rendered, arch);
  record->cubin = std::move(cubin.bytes);
  record->compile_ms = cubin.compile_ms;
  *origin = Origin::kCompiled;
  log::info("kernel {} for {}: compiled in {:.0f} ms", record->uri, arch.name(), cubin.compile_ms);

  cache::CacheEntry entry;
  entry.key = record->key;
  entry.uri = record->uri;
  entry.arch = arch.name();
  entry.nvrtc_version = nvrtc;
  entry.options = join(options);
  entry.source_sha256 = sha256_hex(rendered.source);
  entry.source = rendered.source;
  entry.cubin = record->cubin;
  entry.cubin_sha256 = sha256_hex(record->cubin);
  entry.cubin_bytes = static_cast<std::int64_t>(record->cubin.size());
  entry.compile_ms = record->compile_ms;
  entry.created_at = entry.last_used_at = now_seconds();
  if (disk_writes_refused_) return record;  // warned once already
  try {
    store_->put(entry);
  } catch (const CacheError& error) {
    // A full or read-only disk must not stop the host: the kernel is still usable. Say so once,
    // not for every kernel, and stop trying: the next write would fail the same way.
    if (!error.storage_refused()) {
      log::warn("could not store {} in the cache ({}); it stays in memory for this process",
                record->uri, error.what());
    } else if (!disk_writes_refused_.exchange(true)) {
      std::lock_guard<std::mutex> lock(disk_problem_mutex_);
      disk_problem_ =
          fmt::format("cannot write the kernel cache at {}: {}", store_->location(), error.what());
      log::warn("{}; new kernels stay in memory for the rest of this process", disk_problem_);
    }
  }
  return record;
}

}  // namespace kjit
