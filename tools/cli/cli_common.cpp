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

void print_json(const json& value) {
  std::cout << value.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
}

bool is_valid_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    // The sequence length and the smallest code point it may encode (shorter forms are overlong).
    std::size_t length;
    std::uint32_t code_point, minimum;
    if (lead < 0x80) {
      ++i;
      continue;
    } else if ((lead & 0xe0) == 0xc0) {
      length = 2, code_point = lead & 0x1f, minimum = 0x80;
    } else if ((lead & 0xf0) == 0xe0) {
      length = 3, code_point = lead & 0x0f, minimum = 0x800;
    } else if ((lead & 0xf8) == 0xf0) {
      length = 4, code_point = lead & 0x07, minimum = 0x10000;
    } else {
      return false;
    }
    if (i + length > text.size()) return false;
    for (std::size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xc0) != 0x80) return false;
      code_point = (code_point << 6) | (next & 0x3f);
    }
    const bool surrogate = code_point >= 0xd800 && code_point <= 0xdfff;
    if (code_point < minimum || code_point > 0x10ffff || surrogate) return false;
    i += length;
  }
  return true;
}

}  // namespace kjit::cli
