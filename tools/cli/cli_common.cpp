#include "cli_common.hpp"

#include <ctime>
#include <iostream>

namespace kjit::cli {

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

}  // namespace kjit::cli
