// Where the disk cache lives and whether it may be trusted. The cache holds executable content,
// so a directory another user owns or can write is refused.
#pragma once

#include <filesystem>
#include <string>

namespace kjit::cache {

// $KJIT_CACHE_DIR, else $XDG_CACHE_HOME/kjit, else ~/.cache/kjit.
std::filesystem::path default_cache_dir();

// Creates the directory (mode 0700) if missing and checks that it, and its database if present,
// are ours and not writable by group or others, and that the directory is writable. Returns an
// empty string when usable, else why not and how to fix it.
std::string prepare_cache_dir(const std::filesystem::path& directory);

// The database file inside a cache directory.
std::filesystem::path database_path(const std::filesystem::path& directory);

}  // namespace kjit::cache
