#include "cache_dir.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include <fmt/format.h>

#include "knobs.hpp"

namespace kjit::cache {

std::filesystem::path default_cache_dir() {
  if (auto dir = knobs::cache_dir()) return *dir;
  if (auto xdg = knobs::get("XDG_CACHE_HOME")) return std::filesystem::path(*xdg) / "kjit";
  if (auto home = knobs::get("HOME")) return std::filesystem::path(*home) / ".cache" / "kjit";
  return std::filesystem::temp_directory_path() / fmt::format("kjit-{}", getuid());
}

std::filesystem::path database_path(const std::filesystem::path& directory) {
  return directory / "kernels.sqlite3";
}

namespace {

// Why `path` (the cache directory or its database) must not be trusted, or "" if it may be.
std::string ownership_problem(const std::filesystem::path& path, const struct stat& info,
                              const char* what, const char* fix_mode) {
  if (info.st_uid != geteuid()) {
    return fmt::format(
        "{} {} is owned by uid {}, not by this user (uid {}); kjit loads executable code from it, "
        "so it must be your own: set KJIT_CACHE_DIR to a directory you own",
        what, path.string(), info.st_uid, geteuid());
  }
  if ((info.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return fmt::format(
        "{} {} is writable by group or others (mode {:o}); kjit loads executable code from it, "
        "so others must not be able to write it: run chmod {} {}",
        what, path.string(), info.st_mode & 07777, fix_mode, path.string());
  }
  return "";
}

}  // namespace

std::string prepare_cache_dir(const std::filesystem::path& directory) {
  std::error_code error;
  if (!std::filesystem::exists(directory, error)) {
    // Parents get the usual permissions; the cache directory itself is private.
    std::filesystem::create_directories(directory.parent_path(), error);
    if (mkdir(directory.c_str(), 0700) != 0 && errno != EEXIST) {
      return fmt::format("cannot create cache directory {}: {}", directory.string(),
                         std::strerror(errno));
    }
  }
  struct stat info {};
  if (stat(directory.c_str(), &info) != 0) {
    return fmt::format("cannot read cache directory {}: {}", directory.string(),
                       std::strerror(errno));
  }
  if (!S_ISDIR(info.st_mode)) {
    return fmt::format("cache path {} is not a directory", directory.string());
  }
  std::string problem = ownership_problem(directory, info, "cache directory", "700");
  if (!problem.empty()) return problem;
  if (access(directory.c_str(), W_OK | X_OK) != 0) {
    return fmt::format("cache directory {} is not writable: {}", directory.string(),
                       std::strerror(errno));
  }
  // The database may predate the directory's checks (copied in, or made by another tool).
  const std::filesystem::path database = database_path(directory);
  if (lstat(database.c_str(), &info) == 0) {
    if (!S_ISREG(info.st_mode)) {
      return fmt::format("cache database {} is not a regular file; remove it", database.string());
    }
    problem = ownership_problem(database, info, "cache database", "600");
    if (!problem.empty()) return problem;
  }
  return "";
}

}  // namespace kjit::cache
