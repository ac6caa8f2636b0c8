// Every environment variable kjit reads, declared once with its default and one line of doc.
// The README's table is checked against kKnobs by tests/runtime/test_knobs.cpp.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace kjit::knobs {

struct Knob {
  const char* name;
  const char* default_value;
  const char* doc;
};

inline constexpr Knob kKnobs[] = {
    {"KJIT_CACHE_DIR", "$XDG_CACHE_HOME/kjit or ~/.cache/kjit",
     "directory of the on-disk kernel cache"},
    {"KJIT_CACHE", "1", "0 disables the disk cache (kernels are kept in memory only)"},
    {"KJIT_CACHE_MAX_BYTES", "2G", "size cap of the disk cache; least recently used evicted"},
    {"KJIT_LOG", "warn", "log level on stderr: error, warn, info, debug"},
    {"KJIT_DISABLE_JIT", "0", "1 turns every cache miss into an error naming the URI"},
    {"KJIT_TEMPLATE_DIR", "(embedded)", "read kernel templates from this directory (development)"},
    {"KJIT_LIBCUDA", "(search)", "path of the CUDA driver library to load instead of libcuda.so.1"},
    {"KJIT_DECODE_TUNING", "(per variant)",
     "override decode kernel tunables, e.g. stages=4,min_blocks=4 (experiments; in the key)"},
};

// Raw value, or nullopt when unset or empty.
std::optional<std::string> get(const char* name);

std::optional<std::string> cache_dir();
bool cache_enabled();
std::uint64_t cache_max_bytes();
std::string log_level();
bool jit_disabled();
std::optional<std::string> template_dir();
std::optional<std::string> libcuda_path();

// Parses "500M", "2G", "1024" (bytes, binary units). Throws InvalidArgument naming the format.
std::uint64_t parse_size(const std::string& text);

// Parses "30d", "12h", "15m", "45s" into seconds. Throws InvalidArgument naming the format.
std::int64_t parse_duration(const std::string& text);

}  // namespace kjit::knobs
