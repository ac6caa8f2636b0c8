// kjit compile and kjit warm: getting kernels into the cache.
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <iostream>
#include <mutex>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "cli_common.hpp"
#include "errors.hpp"
#include "guard.hpp"
#include "loaded_module.hpp"
#include "uri.hpp"

namespace kjit::cli {
namespace {

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

// compile and warm exist to fill the disk cache: kernels that could not be saved there (the
// runtime has already warned why) make them fail, so that a deployment script notices.
int report_unsaved(const kjit::Runtime& runtime) {
  const std::string problem = runtime.disk_problem();
  if (problem.empty()) return kExitOk;
  std::cerr << "kjit: kernels were compiled but not saved: " << problem << "\n";
  return kExitError;
}

}  // namespace

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
  return report_unsaved(runtime);
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
                {"not_saved", runtime.disk_problem()},
                {"compiled", compiled},
                {"cached", cached},
                {"failed", failed},
                {"kernels", results}});
  } else {
    std::cout << fmt::format("{} for {}: {} compiled, {} already cached, {} failed\n", what,
                             arch.name(), compiled, cached, failed);
  }
  const int saved = report_unsaved(runtime);
  return failed == 0 ? saved : kExitError;
}

}  // namespace kjit::cli
