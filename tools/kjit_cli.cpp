// kjit: compile, inspect and clear the kernel cache (commands in tools/cli/).
//   exit codes: 0 ok, 1 error, 2 usage, 3 rejected by the guard
#include <iostream>
#include <string>
#include <thread>

#include <CLI/CLI.hpp>

#include "cli/cli_common.hpp"
#include "errors.hpp"

using namespace kjit::cli;

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

  // URIs are ASCII, so a --match that is not even UTF-8 is a mistake (a mangled shell variable,
  // say): say so instead of matching nothing.
  const CLI::Validator utf8_text(
      [](std::string& text) {
        return is_valid_utf8(text) ? std::string()
                                   : std::string("not UTF-8 text (kernel URIs are ASCII)");
      },
      "TEXT");
  std::string match;
  auto* list_command = app.add_subcommand("list", "list cached kernels");
  list_command->add_option("--match", match, "only URIs containing this text")->check(utf8_text);

  std::string which;
  bool source = false;
  auto* show_command = app.add_subcommand("show", "show one cached kernel");
  show_command->add_option("uri_or_key", which, "URI, key or key prefix (8+ characters)")
      ->required();
  show_command->add_flag("--source", source, "print the rendered CUDA source");

  auto* stats_command = app.add_subcommand("stats", "cache statistics");
  auto* clear_command = app.add_subcommand("clear", "remove cached kernels");
  clear_command->add_option("--match", match, "only URIs containing this text")->check(utf8_text);
  auto* doctor_command = app.add_subcommand("doctor", "check NVRTC, driver, GPUs and the cache");
  std::string max_size, older_than;
  auto* prune_command = app.add_subcommand("prune", "evict cached kernels; prints what it evicted");
  prune_command->add_option("--max-size", max_size,
                            "keep at most SIZE, least recently used go (500M, 2G)");
  prune_command->add_option("--older-than", older_than,
                            "evict entries unused for DURATION (30d, 12h)");
  prune_command->add_option("--match", match, "only URIs containing this text")->check(utf8_text);
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
  export_command->add_option("--match", match, "only URIs containing this text")->check(utf8_text);
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
