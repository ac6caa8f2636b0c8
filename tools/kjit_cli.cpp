// kjit: compile, inspect and clear the kernel cache.
//   exit codes: 0 ok, 1 error, 2 usage, 3 rejected by the guard
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <limits>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cache/cache_dir.hpp"
#include "cache/sqlite_store.hpp"
#include "errors.hpp"
#include "guard.hpp"
#include "knobs.hpp"
#include "loaded_module.hpp"
#include "nvrtc_compiler.hpp"
#include "runtime.hpp"
#include "uri.hpp"

namespace {

using nlohmann::json;

constexpr int kExitOk = 0;
constexpr int kExitError = 1;
constexpr int kExitUsage = 2;
constexpr int kExitRejected = 3;

struct GlobalOptions {
  std::string cache_dir;
  bool json = false;
};

struct CompileOptions {
  std::string family;
  std::string dtype_q, dtype_kv, dtype_o;
  int head_dim = 0;
  bool sinks = false, swa = false, logits_cap = false;
  std::string arch;
};

std::string iso_time(std::int64_t seconds) {
  const std::time_t time = static_cast<std::time_t>(seconds);
  std::tm utc{};
  gmtime_r(&time, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

kjit::RuntimeOptions runtime_options(const GlobalOptions& global) {
  kjit::RuntimeOptions options = kjit::RuntimeOptions::from_environment();
  if (!global.cache_dir.empty()) options.cache_dir = global.cache_dir;
  return options;
}

json entry_json(const kjit::cache::CacheEntry& entry) {
  return {{"uri", entry.uri},
          {"key", entry.key},
          {"arch", entry.arch},
          {"bytes", entry.cubin_bytes},
          {"hits", entry.hits},
          {"compile_ms", entry.compile_ms},
          {"nvrtc_version", entry.nvrtc_version},
          {"options", entry.options},
          {"source_sha256", entry.source_sha256},
          {"cubin_sha256", entry.cubin_sha256},
          {"created_at", iso_time(entry.created_at)},
          {"last_used_at", iso_time(entry.last_used_at)}};
}

void print_json(const json& value) { std::cout << value.dump(2) << "\n"; }

int run_compile(const GlobalOptions& global, const CompileOptions& options) {
  kjit::KernelSpec spec;
  spec.family = options.family;
  spec.dtype_q = kjit::parse_dtype(options.dtype_q);
  spec.dtype_kv = kjit::parse_dtype(options.dtype_kv);
  if (!options.dtype_o.empty()) spec.dtype_o = kjit::parse_dtype(options.dtype_o);
  spec.head_dim = options.head_dim;
  spec.use_sinks = options.sinks;
  spec.use_swa = options.swa;
  spec.use_logits_cap = options.logits_cap;
  kjit::require_supported(spec);  // before touching a GPU: a rejection is exit 3 anywhere

  const kjit::GpuArch arch = options.arch.empty() ? kjit::device_arch(kjit::current_device())
                                                  : kjit::GpuArch::parse(options.arch);
  kjit::Runtime runtime(runtime_options(global));
  const kjit::Kernel kernel = runtime.get(spec, arch);
  if (global.json) {
    print_json({{"uri", kernel.uri()},
                {"key", kernel.key()},
                {"origin", kjit::origin_name(kernel.origin())},
                {"arch", kernel.arch().name()},
                {"bytes", kernel.cubin().size()},
                {"compile_ms", kernel.compile_ms()}});
  } else {
    std::cout << kernel.uri() << "\n";
    std::cout << fmt::format("{} for {} ({} bytes, compile took {:.0f} ms), key {}\n",
                             kjit::origin_name(kernel.origin()), kernel.arch().name(),
                             kernel.cubin().size(), kernel.compile_ms(), kernel.key());
  }
  return kExitOk;
}

int run_list(const GlobalOptions& global, const std::string& match) {
  kjit::Runtime runtime(runtime_options(global));
  const auto entries = runtime.store().list(match);
  if (global.json) {
    json rows = json::array();
    for (const auto& entry : entries) rows.push_back(entry_json(entry));
    print_json(rows);
    return kExitOk;
  }
  if (entries.empty()) {
    std::cout << "no cached kernels" << (match.empty() ? "" : " matching '" + match + "'") << " in "
              << runtime.store().location() << "\n";
    return kExitOk;
  }
  std::cout << fmt::format("{:<16} {:<6} {:>9} {:>5}  {:<20}  {}\n", "KEY", "ARCH", "BYTES", "HITS",
                           "LAST USED", "URI");
  for (const auto& entry : entries) {
    std::cout << fmt::format("{:<16} {:<6} {:>9} {:>5}  {:<20}  {}\n", entry.key.substr(0, 16),
                             entry.arch, entry.cubin_bytes, entry.hits,
                             iso_time(entry.last_used_at), entry.uri);
  }
  return kExitOk;
}

int run_show(const GlobalOptions& global, const std::string& which, bool source) {
  kjit::Runtime runtime(runtime_options(global));
  const auto entry = runtime.store().describe(which);
  if (!entry) {
    std::cerr << "kjit: no cached kernel with URI or key '" << which << "' in "
              << runtime.store().location() << " (see `kjit list`)\n";
    return kExitError;
  }
  if (global.json) {
    json value = entry_json(*entry);
    if (source) value["source"] = entry->source;
    print_json(value);
    return kExitOk;
  }
  if (source) {
    std::cout << entry->source;
    return kExitOk;
  }
  const json value = entry_json(*entry);
  for (const auto& [name, field] : value.items()) {
    std::cout << fmt::format("{:<14} {}\n", name,
                             field.is_string() ? field.get<std::string>() : field.dump());
  }
  return kExitOk;
}

int run_stats(const GlobalOptions& global) {
  kjit::Runtime runtime(runtime_options(global));
  const kjit::cache::CacheStats stats = runtime.store().stats();
  if (global.json) {
    print_json({{"location", stats.location},
                {"entries", stats.entries},
                {"total_bytes", stats.total_bytes},
                {"hits", stats.hits},
                {"misses", stats.misses},
                {"compile_ms", stats.compile_ms}});
    return kExitOk;
  }
  std::cout << fmt::format(
      "location     {}\nentries      {}\ntotal bytes  {}\nhits         {}\nmisses       {}\n"
      "compile time {:.0f} ms\n",
      stats.location, stats.entries, stats.total_bytes, stats.hits, stats.misses, stats.compile_ms);
  return kExitOk;
}

int run_clear(const GlobalOptions& global, const std::string& match) {
  kjit::Runtime runtime(runtime_options(global));
  const std::int64_t removed = runtime.store().remove(match);
  if (global.json) {
    print_json({{"removed", removed}, {"match", match}});
  } else {
    std::cout << fmt::format("removed {} entr{}{}\n", removed, removed == 1 ? "y" : "ies",
                             match.empty() ? "" : " matching '" + match + "'");
  }
  return kExitOk;
}

int run_prune(const GlobalOptions& global, const std::string& max_size,
              const std::string& older_than, const std::string& match) {
  if (max_size.empty() && older_than.empty() && match.empty()) {
    throw kjit::InvalidArgument("prune needs --max-size, --older-than or --match");
  }
  const std::int64_t max_bytes = max_size.empty()
                                     ? std::numeric_limits<std::int64_t>::max()
                                     : static_cast<std::int64_t>(kjit::knobs::parse_size(max_size));
  std::int64_t unused_since = 0;
  if (!older_than.empty())
    unused_since = std::time(nullptr) - kjit::knobs::parse_duration(older_than);
  // --match alone removes every matching entry.
  const std::int64_t cap = (max_size.empty() && older_than.empty()) ? 0 : max_bytes;
  kjit::Runtime runtime(runtime_options(global));
  const auto evicted = runtime.store().prune(cap, unused_since, match);
  if (global.json) {
    json rows = json::array();
    for (const auto& entry : evicted) rows.push_back(entry_json(entry));
    print_json({{"evicted", rows}});
    return kExitOk;
  }
  for (const auto& entry : evicted) {
    std::cout << fmt::format("evicted {} ({} bytes, last used {})\n", entry.uri, entry.cubin_bytes,
                             iso_time(entry.last_used_at));
  }
  std::cout << fmt::format("evicted {} entr{}\n", evicted.size(),
                           evicted.size() == 1 ? "y" : "ies");
  return kExitOk;
}

int run_verify(const GlobalOptions& global, bool fix) {
  kjit::Runtime runtime(runtime_options(global));
  const std::string integrity = runtime.store().integrity_check();
  const auto bad = runtime.store().verify(fix);
  if (global.json) {
    json rows = json::array();
    for (const auto& entry : bad) rows.push_back(entry_json(entry));
    print_json({{"integrity", integrity}, {"bad_entries", rows}, {"fixed", fix}});
  } else {
    std::cout << "database integrity: " << integrity << "\n";
    for (const auto& entry : bad) {
      std::cout << fmt::format("checksum mismatch: {} ({}){}\n", entry.uri, entry.key.substr(0, 16),
                               fix ? ", removed" : "");
    }
    std::cout << fmt::format("{} entr{} failed verification\n", bad.size(),
                             bad.size() == 1 ? "y" : "ies");
  }
  return integrity == "ok" && (bad.empty() || fix) ? kExitOk : kExitError;
}

// Variants a model needs, by preset name.
std::vector<kjit::KernelSpec> preset_specs(const std::string& name) {
  std::vector<kjit::KernelSpec> specs;
  auto add = [&](kjit::DType q, kjit::DType kv, int head_dim, bool sinks, bool swa) {
    kjit::KernelSpec spec;
    spec.dtype_q = q;
    spec.dtype_kv = kv;
    spec.head_dim = head_dim;
    spec.use_sinks = sinks;
    spec.use_swa = swa;
    specs.push_back(spec);
  };
  using kjit::DType;
  if (name == "gpt-oss-120b" || name == "gpt-oss-20b") {
    // Sinks everywhere; layers alternate full and 128-token sliding-window attention.
    for (DType q : {DType::kBF16, DType::kF16}) {
      for (DType kv : {DType::kBF16, DType::kE4M3}) {
        for (bool swa : {false, true}) add(q, kv, 64, true, swa);
      }
    }
  } else if (name == "llama-3-70b" || name == "llama-3-8b") {
    for (DType q : {DType::kBF16, DType::kF16}) {
      for (DType kv : {DType::kBF16, DType::kF16, DType::kE4M3}) add(q, kv, 128, false, false);
    }
  } else {
    throw kjit::InvalidArgument(fmt::format(
        "unknown preset '{}': presets are gpt-oss-120b, gpt-oss-20b, llama-3-70b, llama-3-8b, or "
        "give a JSON file of specs",
        name));
  }
  return specs;
}

// A JSON array of {"dtype_q", "dtype_kv", "head_dim", ["dtype_o", "use_sinks", "use_swa",
// "use_logits_cap"]}.
std::vector<kjit::KernelSpec> file_specs(const std::string& path) {
  std::ifstream file(path);
  json document;
  try {
    document = json::parse(file);
  } catch (const json::exception& error) {
    throw kjit::InvalidArgument(fmt::format("{}: not a JSON spec list ({})", path, error.what()));
  }
  if (!document.is_array()) throw kjit::InvalidArgument(path + ": expected a JSON array of specs");
  std::vector<kjit::KernelSpec> specs;
  for (const json& item : document) {
    try {
      kjit::KernelSpec spec;
      spec.dtype_q = kjit::parse_dtype(item.at("dtype_q").get<std::string>());
      spec.dtype_kv = kjit::parse_dtype(item.at("dtype_kv").get<std::string>());
      if (item.contains("dtype_o"))
        spec.dtype_o = kjit::parse_dtype(item["dtype_o"].get<std::string>());
      spec.head_dim = item.at("head_dim").get<int>();
      spec.use_sinks = item.value("use_sinks", false);
      spec.use_swa = item.value("use_swa", false);
      spec.use_logits_cap = item.value("use_logits_cap", false);
      specs.push_back(spec);
    } catch (const json::exception& error) {
      throw kjit::InvalidArgument(
          fmt::format("{}: bad spec {}: {}", path, item.dump(), error.what()));
    }
  }
  return specs;
}

int run_warm(const GlobalOptions& global, const std::string& what, const std::string& arch_name,
             int jobs) {
  const bool is_file = what.find(".json") != std::string::npos || std::ifstream(what).good();
  const std::vector<kjit::KernelSpec> specs = is_file ? file_specs(what) : preset_specs(what);
  const kjit::GpuArch arch = arch_name.empty() ? kjit::device_arch(kjit::current_device())
                                               : kjit::GpuArch::parse(arch_name);
  kjit::Runtime runtime(runtime_options(global));
  std::vector<json> results(specs.size());
  std::atomic<std::size_t> next{0}, done{0};
  std::mutex output;
  const bool terminal = isatty(STDOUT_FILENO) && !global.json;
  auto worker = [&] {
    for (std::size_t i = next++; i < specs.size(); i = next++) {
      json row{{"uri", kjit::make_uri(specs[i])}};
      try {
        const kjit::Kernel kernel = runtime.get(specs[i], arch);
        row["origin"] = kjit::origin_name(kernel.origin());
        row["compile_ms"] = kernel.compile_ms();
      } catch (const std::exception& error) {
        row["origin"] = "failed";
        row["error"] = error.what();
      }
      std::lock_guard<std::mutex> lock(output);
      results[i] = row;
      const std::size_t finished = ++done;
      if (terminal) {
        const int width = 30, filled = static_cast<int>(width * finished / specs.size());
        std::cout << fmt::format("\r[{}{}] {}/{} {}", std::string(filled, '#'),
                                 std::string(width - filled, ' '), finished, specs.size(),
                                 finished == specs.size() ? "\n" : "")
                  << std::flush;
      } else if (!global.json) {
        std::cout << fmt::format(
            "{:<8} {}{}\n", row["origin"].get<std::string>(), row["uri"].get<std::string>(),
            row.contains("error") ? "\n  " + row["error"].get<std::string>() : "");
      }
    }
  };
  std::vector<std::thread> threads;
  for (int j = 0; j < std::max(1, jobs); ++j) threads.emplace_back(worker);
  for (auto& thread : threads) thread.join();

  int compiled = 0, cached = 0, failed = 0;
  for (const json& row : results) {
    const std::string origin = row["origin"];
    compiled += origin == "compiled";
    failed += origin == "failed";
    cached += origin == "disk" || origin == "memory";
  }
  if (global.json) {
    print_json({{"arch", arch.name()},
                {"compiled", compiled},
                {"cached", cached},
                {"failed", failed},
                {"kernels", results}});
  } else {
    std::cout << fmt::format("{} for {}: {} compiled, {} already cached, {} failed\n", what,
                             arch.name(), compiled, cached, failed);
  }
  return failed == 0 ? kExitOk : kExitError;
}

int run_export(const GlobalOptions& global, const std::string& file, const std::string& match) {
  kjit::Runtime runtime(runtime_options(global));
  const std::int64_t written = runtime.store().export_bundle(file, match);
  if (global.json) {
    print_json({{"file", file}, {"exported", written}});
  } else {
    std::cout << fmt::format("exported {} entr{} to {}\n", written, written == 1 ? "y" : "ies",
                             file);
  }
  return kExitOk;
}

int run_import(const GlobalOptions& global, const std::string& file) {
  kjit::Runtime runtime(runtime_options(global));
  const auto result = runtime.store().import_bundle(file);
  if (global.json) {
    print_json({{"file", file},
                {"imported", result.imported},
                {"present", result.present},
                {"rejected", result.rejected}});
  } else {
    std::cout << fmt::format("imported {}, already present {}, rejected (bad checksum) {}\n",
                             result.imported, result.present, result.rejected);
  }
  return result.rejected == 0 ? kExitOk : kExitError;
}

int run_doctor(const GlobalOptions& global) {
  json report;
  report["kjit_version"] = KJIT_VERSION;
  report["nvrtc_version"] = kjit::nvrtc_version();
  json archs = json::array();
  for (const auto& arch : kjit::nvrtc_supported_archs()) archs.push_back(arch.name());
  report["nvrtc_targets"] = archs;

  json gpus = json::array();
  if (kjit::cuda_available()) {
    const kjit::CudaDriver& cu = kjit::cuda_driver();
    int version = 0, count = 0;
    cu.cuDriverGetVersion(&version);
    cu.cuDeviceGetCount(&count);
    report["driver"] =
        fmt::format("{}.{} ({})", version / 1000, (version % 1000) / 10, cu.library_path);
    for (int device = 0; device < count; ++device) {
      CUdevice handle = 0;
      cu.cuDeviceGet(&handle, device);
      char name[256] = {};
      cu.cuDeviceGetName(name, sizeof name, handle);
      std::size_t memory = 0;
      cu.cuDeviceTotalMem(&memory, handle);
      const kjit::GpuArch arch = kjit::device_arch(device);
      // E4M3/E5M2 conversion instructions (cvt.*.e4m3x2) exist from sm_89 on.
      gpus.push_back({{"index", device},
                      {"name", name},
                      {"arch", arch.name()},
                      {"memory_bytes", memory},
                      {"fp8_hardware", arch.number() >= 89}});
    }
  } else {
    try {
      kjit::cuda_driver();
    } catch (const kjit::CudaError& error) {
      report["driver"] = std::string("no driver: ") + error.what();
    }
  }
  report["gpus"] = gpus;

  const kjit::RuntimeOptions options = runtime_options(global);
  json cache;
  cache["directory"] = options.cache_dir.string();
  cache["enabled"] = options.disk_cache;
  const std::string problem = options.disk_cache ? kjit::cache::prepare_cache_dir(options.cache_dir)
                                                 : "disabled by KJIT_CACHE=0";
  cache["permissions"] = problem.empty() ? "ok" : problem;
  bool healthy = problem.empty() || !options.disk_cache;
  if (problem.empty() && options.disk_cache) {
    try {
      auto store = kjit::cache::SqliteStore::open(options.cache_dir);
      cache["database"] = store->location();
      cache["integrity"] = store->integrity_check();
      cache["entries"] = store->stats().entries;
      healthy = healthy && cache["integrity"] == "ok";
    } catch (const kjit::Error& error) {
      cache["integrity"] = error.what();
      healthy = false;
    }
  }
  report["cache"] = cache;
  report["healthy"] = healthy;

  if (global.json) {
    print_json(report);
  } else {
    std::cout << fmt::format(
        "kjit          {}\nNVRTC         {} (targets: {})\ndriver        {}\n", KJIT_VERSION,
        report["nvrtc_version"].get<std::string>(),
        fmt::join(report["nvrtc_targets"].get<std::vector<std::string>>(), " "),
        report["driver"].get<std::string>());
    if (gpus.empty()) std::cout << "GPUs          none\n";
    for (const auto& gpu : gpus) {
      std::cout << fmt::format("GPU {}         {} ({}, {} GiB, FP8 hardware: {})\n",
                               gpu["index"].get<int>(), gpu["name"].get<std::string>(),
                               gpu["arch"].get<std::string>(),
                               gpu["memory_bytes"].get<std::size_t>() >> 30,
                               gpu["fp8_hardware"].get<bool>() ? "yes" : "no");
    }
    std::cout << fmt::format("cache         {}\npermissions   {}\nintegrity     {}\n",
                             cache["directory"].get<std::string>(),
                             cache["permissions"].get<std::string>(),
                             cache.value("integrity", std::string("n/a")));
  }
  return healthy ? kExitOk : kExitError;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"kjit: just-in-time compiled GPU kernels and their cache"};
  app.require_subcommand(1);
  app.fallthrough();  // global options may also follow the command: kjit list --json
  GlobalOptions global;
  app.add_option("--cache-dir", global.cache_dir,
                 "cache directory (default: $KJIT_CACHE_DIR, "
                 "$XDG_CACHE_HOME/kjit or ~/.cache/kjit)");
  app.add_flag("--json", global.json, "machine-readable output");

  CompileOptions compile;
  auto* compile_command = app.add_subcommand("compile", "compile a kernel into the cache");
  compile_command->add_option("family", compile.family, "kernel family (batch_decode)")->required();
  compile_command->add_option("--dtype-q", compile.dtype_q, "query dtype (bf16, f16)")->required();
  compile_command
      ->add_option("--dtype-kv", compile.dtype_kv, "KV cache dtype (bf16, f16, e4m3, e5m2)")
      ->required();
  compile_command->add_option("--dtype-o", compile.dtype_o, "output dtype (default: dtype-q)");
  compile_command->add_option("--head-dim", compile.head_dim, "head dimension (64, 128, 256)")
      ->required();
  compile_command->add_flag("--sinks", compile.sinks, "attention sinks");
  compile_command->add_flag("--swa", compile.swa, "sliding window attention");
  compile_command->add_flag("--logits-cap", compile.logits_cap, "logits soft cap");
  compile_command->add_option("--arch", compile.arch,
                              "target, e.g. sm_90 (default: the current GPU)");

  std::string match;
  auto* list_command = app.add_subcommand("list", "list cached kernels");
  list_command->add_option("--match", match, "only URIs containing this text");

  std::string which;
  bool source = false;
  auto* show_command = app.add_subcommand("show", "show one cached kernel");
  show_command->add_option("uri_or_key", which, "URI, key or key prefix (8+ characters)")
      ->required();
  show_command->add_flag("--source", source, "print the rendered CUDA source");

  auto* stats_command = app.add_subcommand("stats", "cache statistics");
  auto* clear_command = app.add_subcommand("clear", "remove cached kernels");
  clear_command->add_option("--match", match, "only URIs containing this text");
  auto* doctor_command = app.add_subcommand("doctor", "check NVRTC, driver, GPUs and the cache");
  std::string max_size, older_than;
  auto* prune_command = app.add_subcommand("prune", "evict cached kernels; prints what it evicted");
  prune_command->add_option("--max-size", max_size,
                            "keep at most SIZE, least recently used go (500M, 2G)");
  prune_command->add_option("--older-than", older_than,
                            "evict entries unused for DURATION (30d, 12h)");
  prune_command->add_option("--match", match, "only URIs containing this text");
  std::string warm_what, warm_arch;
  int jobs = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  auto* warm_command = app.add_subcommand("warm", "compile a preset or a JSON list of variants");
  warm_command
      ->add_option("preset_or_file", warm_what,
                   "gpt-oss-120b, gpt-oss-20b, llama-3-70b, llama-3-8b, or SPECS.json")
      ->required();
  warm_command->add_option("--arch", warm_arch, "target, e.g. sm_90 (default: the current GPU)");
  warm_command->add_option("--jobs", jobs, "parallel compiles (default: CPU count)");
  std::string bundle;
  auto* export_command = app.add_subcommand("export", "write cached kernels to a bundle file");
  export_command->add_option("file", bundle, "bundle to create (a SQLite file)")->required();
  export_command->add_option("--match", match, "only URIs containing this text");
  auto* import_command = app.add_subcommand("import", "verify and merge a bundle");
  import_command->add_option("file", bundle, "bundle made by kjit export")->required();
  bool fix = false;
  auto* verify_command =
      app.add_subcommand("verify", "check every entry's checksum and the database");
  verify_command->add_flag("--fix", fix, "remove entries that fail");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& help) {
    return app.exit(help);
  } catch (const CLI::ParseError& error) {
    app.exit(error);
    return kExitUsage;
  }

  try {
    if (*compile_command) return run_compile(global, compile);
    if (*list_command) return run_list(global, match);
    if (*show_command) return run_show(global, which, source);
    if (*stats_command) return run_stats(global);
    if (*clear_command) return run_clear(global, match);
    if (*doctor_command) return run_doctor(global);
    if (*prune_command) return run_prune(global, max_size, older_than, match);
    if (*verify_command) return run_verify(global, fix);
    if (*warm_command) return run_warm(global, warm_what, warm_arch, jobs);
    if (*export_command) return run_export(global, bundle, match);
    if (*import_command) return run_import(global, bundle);
  } catch (const kjit::GuardError& error) {
    std::cerr << "kjit: rejected: " << error.what() << "\n";
    return kExitRejected;
  } catch (const kjit::InvalidArgument& error) {
    std::cerr << "kjit: " << error.what() << "\n";
    return kExitUsage;
  } catch (const std::exception& error) {
    std::cerr << "kjit: error: " << error.what() << "\n";
    return kExitError;
  }
  return kExitUsage;
}
