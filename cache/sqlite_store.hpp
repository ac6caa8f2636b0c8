// The disk tier: one SQLite database of compiled kernels, keyed by the content key
// (runtime/cache_key.hpp) with the URI as a column for listing and clearing.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "sqlite.hpp"

namespace kjit::cache {

struct CacheEntry {
  std::string key;
  std::string uri;
  std::string arch;
  std::string nvrtc_version;
  std::string options;        // space-joined compile options
  std::string source_sha256;  // of the rendered source
  std::string source;         // rendered source, for `kjit show --source`
  std::string cubin;
  std::string cubin_sha256;  // verified on every read
  std::int64_t cubin_bytes = 0;
  double compile_ms = 0;
  std::int64_t created_at = 0;    // unix seconds
  std::int64_t last_used_at = 0;  // unix seconds
  std::int64_t hits = 0;
};

// location() of a store that lives in memory (disk cache disabled or unusable).
inline constexpr const char* kInMemoryLocation = ":memory:";

struct CacheStats {
  std::string location;
  std::int64_t entries = 0;
  std::int64_t total_bytes = 0;  // cubin bytes
  std::int64_t hits = 0;
  std::int64_t misses = 0;
  double compile_ms = 0;  // total compile time of the entries present
};

class SqliteStore {
 public:
  // Opens or creates the database of a cache directory (which must already be prepared). A file
  // SQLite reports as corrupt or not a database is moved aside with a timestamped name and a
  // fresh one created. Throws CacheError when the database cannot be opened at all.
  static std::unique_ptr<SqliteStore> open(const std::filesystem::path& directory);
  static std::unique_ptr<SqliteStore> open_in_memory();

  // The entry with this key, checksum verified; a corrupt entry is deleted, logged and reported
  // as absent. Counts a hit (or a miss) in the statistics.
  std::optional<CacheEntry> find(const std::string& key);
  // Inserts or replaces, in one transaction.
  void put(const CacheEntry& entry);

  // Entries whose URI contains `match` (all when empty), newest first, without blobs.
  std::vector<CacheEntry> list(const std::string& match = "");
  // One entry by exact key, key prefix or exact URI, with its source (not verified).
  std::optional<CacheEntry> describe(const std::string& uri_or_key);
  // Removes entries whose URI contains `match` (all when empty); returns how many.
  std::int64_t remove(const std::string& match = "");
  CacheStats stats();
  // SQLite's PRAGMA integrity_check: "ok", or what is wrong.
  std::string integrity_check();

  // Evicts least recently used entries until the cubins total at most `max_bytes`; also those
  // last used before `unused_since` (unix seconds, 0: no age limit) and, when `match` is not
  // empty, only entries whose URI contains it. Returns the evicted entries, in one transaction.
  std::vector<CacheEntry> prune(std::int64_t max_bytes, std::int64_t unused_since = 0,
                                const std::string& match = "");
  // Entries whose cubin fails its checksum (deleted when `fix`).
  std::vector<CacheEntry> verify(bool fix);

  // Writes the entries whose URI contains `match` (all when empty) to a new, self-contained
  // database file (a bundle); refuses to overwrite. Returns how many were written.
  std::int64_t export_bundle(const std::filesystem::path& file, const std::string& match);

  struct ImportResult {
    std::int64_t imported = 0;  // new entries
    std::int64_t present = 0;   // already here (same key)
    std::int64_t rejected = 0;  // failed their checksum: never imported
  };
  // Verifies and merges a bundle. Entries for another NVRTC or arch are kept: their keys differ,
  // so they are only ever served to the target they were built for. Throws CacheError when the
  // file is not a kjit bundle.
  ImportResult import_bundle(const std::filesystem::path& file);

  // Size cap applied after every put (KJIT_CACHE_MAX_BYTES; 0 = none).
  void set_max_bytes(std::int64_t max_bytes) { max_bytes_ = max_bytes; }
  const std::string& location() const { return location_; }
  bool on_disk() const { return location_ != kInMemoryLocation; }

 private:
  SqliteStore(std::unique_ptr<Database> db, std::string location);
  void bump_counter(const char* name);
  void insert(const CacheEntry& entry);         // mutex_ held; own transaction
  void insert_ignore(const CacheEntry& entry);  // mutex_ held; inside a transaction
  void write_entry(const CacheEntry& entry, const char* verb);

  std::mutex mutex_;  // one connection, used by one thread at a time
  std::unique_ptr<Database> db_;
  std::string location_;
  std::int64_t max_bytes_ = 0;
};

}  // namespace kjit::cache
