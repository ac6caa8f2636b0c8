#include "knobs.hpp"

#include <cctype>
#include <cstdlib>

#include <fmt/format.h>

#include "errors.hpp"

namespace kjit::knobs {
namespace {

bool truthy(const std::optional<std::string>& value, bool fallback) {
  if (!value) return fallback;
  return !(*value == "0" || *value == "false" || *value == "off" || *value == "no");
}

}  // namespace

std::optional<std::string> get(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::string(value);
}

std::optional<std::string> cache_dir() { return get("KJIT_CACHE_DIR"); }
bool cache_enabled() { return truthy(get("KJIT_CACHE"), true); }
bool jit_disabled() { return truthy(get("KJIT_DISABLE_JIT"), false); }
std::optional<std::string> template_dir() { return get("KJIT_TEMPLATE_DIR"); }
std::optional<std::string> libcuda_path() { return get("KJIT_LIBCUDA"); }
std::string log_level() { return get("KJIT_LOG").value_or("warn"); }

std::uint64_t cache_max_bytes() {
  auto value = get("KJIT_CACHE_MAX_BYTES");
  return value ? parse_size(*value) : parse_size("2G");
}

std::uint64_t parse_size(const std::string& text) {
  std::size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  const std::string suffix = text.substr(digits);
  std::uint64_t unit = 0;
  if (suffix.empty() || suffix == "B") unit = 1;
  if (suffix == "K" || suffix == "k" || suffix == "KiB") unit = 1ull << 10;
  if (suffix == "M" || suffix == "m" || suffix == "MiB") unit = 1ull << 20;
  if (suffix == "G" || suffix == "g" || suffix == "GiB") unit = 1ull << 30;
  if (suffix == "T" || suffix == "t" || suffix == "TiB") unit = 1ull << 40;
  if (digits == 0 || digits > 15 || unit == 0) {
    throw InvalidArgument(
        fmt::format("invalid size '{}': expected a whole number with an optional unit K, M, G or T "
                    "(binary), e.g. 500M or 2G",
                    text));
  }
  return std::stoull(text.substr(0, digits)) * unit;
}

std::int64_t parse_duration(const std::string& text) {
  std::size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  const std::string unit = text.substr(digits);
  std::int64_t seconds = 0;
  if (unit == "s") seconds = 1;
  if (unit == "m") seconds = 60;
  if (unit == "h") seconds = 3600;
  if (unit == "d") seconds = 86400;
  if (digits == 0 || digits > 9 || seconds == 0) {
    throw InvalidArgument(fmt::format(
        "invalid duration '{}': expected a whole number with a unit s, m, h or d, e.g. 30d or 12h",
        text));
  }
  return std::stoll(text.substr(0, digits)) * seconds;
}

}  // namespace kjit::knobs
