// Shared pieces of the kjit CLI: options every command takes, exit codes, output helpers.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "cache/sqlite_store.hpp"
#include "runtime.hpp"

namespace kjit::cli {

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

std::string iso_time(std::int64_t seconds);
kjit::RuntimeOptions runtime_options(const GlobalOptions& global);
json entry_json(const kjit::cache::CacheEntry& entry);
// Pretty-prints; bytes that are not UTF-8 (file names may hold any) become U+FFFD.
void print_json(const json& value);
bool is_valid_utf8(std::string_view text);

// The commands; each returns the process exit code.
int run_compile(const GlobalOptions& global, const CompileOptions& options);
int run_warm(const GlobalOptions& global, const std::string& what, const std::string& arch_name,
             int jobs);
int run_list(const GlobalOptions& global, const std::string& match);
int run_show(const GlobalOptions& global, const std::string& which, bool source);
int run_stats(const GlobalOptions& global);
int run_clear(const GlobalOptions& global, const std::string& match);
int run_prune(const GlobalOptions& global, const std::string& max_size,
              const std::string& older_than, const std::string& match);
int run_verify(const GlobalOptions& global, bool fix);
int run_export(const GlobalOptions& global, const std::string& file, const std::string& match);
int run_import(const GlobalOptions& global, const std::string& file);
int run_doctor(const GlobalOptions& global);

}  // namespace kjit::cli
