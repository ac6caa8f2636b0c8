#include "log.hpp"

#include <cstdio>
#include <mutex>
#include <string>

#include "knobs.hpp"

namespace kjit::log {
namespace {

Level level_from_environment() {
  const std::string name = knobs::log_level();
  if (name == "error") return Level::kError;
  if (name == "info") return Level::kInfo;
  if (name == "debug") return Level::kDebug;
  return Level::kWarn;
}

const char* label(Level level) {
  switch (level) {
    case Level::kError:
      return "error";
    case Level::kWarn:
      return "warning";
    case Level::kInfo:
      return "info";
    case Level::kDebug:
      return "debug";
  }
  return "";
}

}  // namespace

bool enabled(Level level) {
  // Read once: the environment does not change under a running host.
  static const Level threshold = level_from_environment();
  return level <= threshold;
}

void write(Level level, std::string_view message) {
  static std::mutex mutex;
  std::lock_guard<std::mutex> lock(mutex);
  std::fprintf(stderr, "[kjit] %s: %.*s\n", label(level), static_cast<int>(message.size()),
               message.data());
}

}  // namespace kjit::log
