#include "sqlite_store.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <thread>

#include <fmt/format.h>

#include "cache_dir.hpp"
#include "errors.hpp"
#include "log.hpp"
#include "sha256.hpp"

namespace kjit::cache {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS kernels(
  key           TEXT PRIMARY KEY,
  uri           TEXT NOT NULL,
  arch          TEXT NOT NULL,
  nvrtc_version TEXT NOT NULL,
  options       TEXT NOT NULL,
  source_sha256 TEXT NOT NULL,
  source        BLOB NOT NULL,
  cubin         BLOB NOT NULL,
  cubin_bytes   INTEGER NOT NULL,
  cubin_sha256  TEXT NOT NULL,
  compile_ms    REAL NOT NULL,
  created_at    INTEGER NOT NULL,
  last_used_at  INTEGER NOT NULL,
  hits          INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS kernels_by_uri ON kernels(uri);
CREATE INDEX IF NOT EXISTS kernels_by_last_use ON kernels(last_used_at);
CREATE TABLE IF NOT EXISTS counters(name TEXT PRIMARY KEY, value INTEGER NOT NULL);
)sql";

constexpr std::int64_t kLastUseResolutionSeconds = 60;

constexpr const char* kSummaryColumns =
    "key, uri, arch, nvrtc_version, options, source_sha256, cubin_bytes, cubin_sha256, "
    "compile_ms, created_at, last_used_at, hits";

std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Reads the kSummaryColumns of the current row.
CacheEntry read_summary(const Statement& row) {
  CacheEntry entry;
  entry.key = row.text(0);
  entry.uri = row.text(1);
  entry.arch = row.text(2);
  entry.nvrtc_version = row.text(3);
  entry.options = row.text(4);
  entry.source_sha256 = row.text(5);
  entry.cubin_bytes = row.integer(6);
  entry.cubin_sha256 = row.text(7);
  entry.compile_ms = row.real(8);
  entry.created_at = row.integer(9);
  entry.last_used_at = row.integer(10);
  entry.hits = row.integer(11);
  return entry;
}

bool is_corruption(const Database& db) {
  const int code = sqlite3_errcode(db.handle()) & 0xff;
  return code == SQLITE_CORRUPT || code == SQLITE_NOTADB;
}

bool is_busy(const Database& db) { return (sqlite3_errcode(db.handle()) & 0xff) == SQLITE_BUSY; }

// The database is private: create it 0600 before SQLite does (SQLite would use the umask).
void create_private_file(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
  if (fd >= 0) ::close(fd);
}

constexpr auto kBusyTimeout = std::chrono::seconds(10);

void configure(Database& db) {
  db.execute(
      fmt::format("PRAGMA busy_timeout = {}", std::chrono::milliseconds(kBusyTimeout).count()));
  // Switching a new database to WAL needs an exclusive lock. While another connection holds a
  // write lock in the old journal mode (processes opening a fresh cache together), SQLite
  // answers SQLITE_BUSY at once instead of calling the busy handler, since waiting could
  // deadlock. So wait here: the mode is stored in the file, and the first connection to get
  // the lock switches it for all (CI once saw 1 of 16 racing processes give up on the disk).
  const auto deadline = std::chrono::steady_clock::now() + kBusyTimeout;
  for (;;) {
    try {
      db.execute("PRAGMA journal_mode = WAL");
      break;
    } catch (const CacheError&) {
      if (!is_busy(db) || std::chrono::steady_clock::now() > deadline) throw;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  db.execute("PRAGMA synchronous = NORMAL");
}

}  // namespace

SqliteStore::SqliteStore(std::unique_ptr<Database> db, std::string location)
    : db_(std::move(db)), location_(std::move(location)) {}

std::unique_ptr<SqliteStore> SqliteStore::open(const std::filesystem::path& directory) {
  const std::filesystem::path path = database_path(directory);
  for (int attempt = 0;; ++attempt) {
    create_private_file(path);
    auto db = std::make_unique<Database>(path.string());
    try {
      configure(*db);
      db->execute(kSchema);
    } catch (const CacheError& error) {
      if (attempt > 0 || !is_corruption(*db)) throw;
      db.reset();
      const auto aside = path.string() + fmt::format(".corrupt-{}", now_seconds());
      log::warn("cache database {} is corrupt ({}); moved aside to {} and recreated", path.string(),
                error.what(), aside);
      std::filesystem::rename(path, aside);
      std::filesystem::remove(path.string() + "-wal");
      std::filesystem::remove(path.string() + "-shm");
      continue;
    }
    return std::unique_ptr<SqliteStore>(new SqliteStore(std::move(db), path.string()));
  }
}

std::unique_ptr<SqliteStore> SqliteStore::open_in_memory() {
  auto db = std::make_unique<Database>(kInMemoryLocation);
  db->execute(kSchema);
  return std::unique_ptr<SqliteStore>(new SqliteStore(std::move(db), kInMemoryLocation));
}

void SqliteStore::bump_counter(const char* name) {
  Statement(*db_,
            "INSERT INTO counters(name, value) VALUES(?1, 1) "
            "ON CONFLICT(name) DO UPDATE SET value = value + 1")
      .bind(1, std::string_view(name))
      .run();
}

namespace {

// A lookup's bookkeeping (miss and hit counters, last-use times, dropping a corrupt entry) is
// best effort: on a full or read-only disk the entry just read is still good, so a failed write
// must not turn the lookup into an error.
template <typename Write>
void best_effort(Write&& write) {
  try {
    write();
  } catch (const CacheError& error) {
    log::debug("cache bookkeeping skipped: {}", error.what());
  }
}

}  // namespace

std::optional<CacheEntry> SqliteStore::find(const std::string& key) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::optional<CacheEntry> found;
  {
    // The read transaction must end before any write: upgrading it after another process
    // committed fails at once with SQLITE_BUSY_SNAPSHOT, whatever the busy timeout.
    Statement query(*db_,
                    fmt::format("SELECT {}, cubin FROM kernels WHERE key = ?1", kSummaryColumns));
    query.bind(1, key);
    if (query.step()) {
      found = read_summary(query);
      found->cubin = query.blob(12);
    }
  }
  if (!found) {
    best_effort([&] { bump_counter("misses"); });
    return std::nullopt;
  }
  if (static_cast<std::int64_t>(found->cubin.size()) != found->cubin_bytes ||
      sha256_hex(found->cubin) != found->cubin_sha256) {
    log::warn("cache entry {} ({}) failed its checksum; dropped and will be recompiled", found->uri,
              key.substr(0, 16));
    best_effort([&] {
      Statement(*db_, "DELETE FROM kernels WHERE key = ?1").bind(1, key).run();
      bump_counter("misses");
    });
    return std::nullopt;
  }
  // Use is recorded at most once a minute per entry, so warm lookups from many processes do
  // not queue for the write lock; hits therefore count uses a minute or more apart.
  const std::int64_t now = now_seconds();
  if (found->last_used_at + kLastUseResolutionSeconds <= now) {
    best_effort([&] {
      in_transaction(*db_, [&] {
        Statement(*db_, "UPDATE kernels SET hits = hits + 1, last_used_at = ?2 WHERE key = ?1")
            .bind(1, key)
            .bind(2, now)
            .run();
        bump_counter("hits");
      });
      found->last_used_at = now;
      ++found->hits;
    });
  }
  return found;
}

void SqliteStore::put(const CacheEntry& entry) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    insert(entry);
  }
  if (max_bytes_ > 0) prune(max_bytes_);
}

void SqliteStore::insert(const CacheEntry& entry) {
  in_transaction(*db_, [&] { write_entry(entry, "INSERT OR REPLACE"); });
}

void SqliteStore::insert_ignore(const CacheEntry& entry) { write_entry(entry, "INSERT OR IGNORE"); }

void SqliteStore::write_entry(const CacheEntry& entry, const char* verb) {
  {
    Statement(
        *db_,
        std::string(verb) +
            " INTO kernels(key, uri, arch, nvrtc_version, options, "
            "source_sha256, source, cubin, cubin_bytes, cubin_sha256, compile_ms, created_at, "
            "last_used_at, hits) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, "
            "?14)")
        .bind(1, entry.key)
        .bind(2, entry.uri)
        .bind(3, entry.arch)
        .bind(4, entry.nvrtc_version)
        .bind(5, entry.options)
        .bind(6, entry.source_sha256)
        .bind_blob(7, entry.source)
        .bind_blob(8, entry.cubin)
        .bind(9, static_cast<std::int64_t>(entry.cubin.size()))
        .bind(10, entry.cubin_sha256)
        .bind(11, entry.compile_ms)
        .bind(12, entry.created_at)
        .bind(13, entry.last_used_at)
        .bind(14, entry.hits)
        .run();
  }
}

std::vector<CacheEntry> SqliteStore::list(const std::string& match) {
  std::lock_guard<std::mutex> lock(mutex_);
  // instr() rather than LIKE: the match is plain text, '%' and '_' in it mean themselves.
  Statement query(*db_, fmt::format("SELECT {} FROM kernels WHERE instr(uri, ?1) > 0 OR ?1 = '' "
                                    "ORDER BY created_at DESC, uri",
                                    kSummaryColumns));
  query.bind(1, match);
  std::vector<CacheEntry> entries;
  while (query.step()) entries.push_back(read_summary(query));
  return entries;
}

std::optional<CacheEntry> SqliteStore::describe(const std::string& uri_or_key) {
  std::lock_guard<std::mutex> lock(mutex_);
  Statement query(*db_, fmt::format("SELECT {}, source FROM kernels WHERE uri = ?1 OR key = ?1 "
                                    "OR (length(?1) >= 8 AND substr(key, 1, length(?1)) = ?1) "
                                    "ORDER BY last_used_at DESC LIMIT 1",
                                    kSummaryColumns));
  query.bind(1, uri_or_key);
  if (!query.step()) return std::nullopt;
  CacheEntry entry = read_summary(query);
  entry.source = query.blob(12);
  return entry;
}

std::int64_t SqliteStore::remove(const std::string& match) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::int64_t removed = 0;
  in_transaction(*db_, [&] {
    Statement(*db_, "DELETE FROM kernels WHERE instr(uri, ?1) > 0 OR ?1 = ''").bind(1, match).run();
    removed = db_->changes();
  });
  return removed;
}

CacheStats SqliteStore::stats() {
  std::lock_guard<std::mutex> lock(mutex_);
  CacheStats stats;
  stats.location = location_;
  Statement totals(*db_,
                   "SELECT count(*), coalesce(sum(cubin_bytes), 0), coalesce(sum(compile_ms), 0) "
                   "FROM kernels");
  if (totals.step()) {
    stats.entries = totals.integer(0);
    stats.total_bytes = totals.integer(1);
    stats.compile_ms = totals.real(2);
  }
  Statement counters(*db_, "SELECT name, value FROM counters");
  while (counters.step()) {
    if (counters.text(0) == "hits") stats.hits = counters.integer(1);
    if (counters.text(0) == "misses") stats.misses = counters.integer(1);
  }
  return stats;
}

std::vector<CacheEntry> SqliteStore::prune(std::int64_t max_bytes, std::int64_t unused_since,
                                           const std::string& match) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<CacheEntry> evicted;
  in_transaction(*db_, [&] {
    // Newest first, a running total of sizes: whatever lies past the cap, or is too old, goes.
    Statement victims(
        *db_, fmt::format("SELECT {} FROM (SELECT *, sum(cubin_bytes) OVER (ORDER BY "
                          "last_used_at DESC, created_at DESC, key) AS running FROM kernels "
                          "WHERE instr(uri, ?3) > 0 OR ?3 = '') WHERE running > ?1 OR "
                          "last_used_at < ?2",
                          kSummaryColumns));
    victims.bind(1, max_bytes).bind(2, unused_since).bind(3, match);
    while (victims.step()) evicted.push_back(read_summary(victims));
    for (const CacheEntry& entry : evicted) {
      Statement(*db_, "DELETE FROM kernels WHERE key = ?1").bind(1, entry.key).run();
    }
  });
  return evicted;
}

std::vector<CacheEntry> SqliteStore::verify(bool fix) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<CacheEntry> bad;
  {
    Statement all(*db_, fmt::format("SELECT {}, cubin FROM kernels", kSummaryColumns));
    while (all.step()) {
      CacheEntry entry = read_summary(all);
      const std::string cubin = all.blob(12);
      if (static_cast<std::int64_t>(cubin.size()) != entry.cubin_bytes ||
          sha256_hex(cubin) != entry.cubin_sha256) {
        bad.push_back(std::move(entry));
      }
    }
  }
  if (fix) {
    in_transaction(*db_, [&] {
      for (const CacheEntry& entry : bad) {
        Statement(*db_, "DELETE FROM kernels WHERE key = ?1").bind(1, entry.key).run();
      }
    });
  }
  return bad;
}

std::int64_t SqliteStore::export_bundle(const std::filesystem::path& file,
                                        const std::string& match) {
  if (std::filesystem::exists(file)) {
    throw CacheError(
        fmt::format("{} already exists; kjit export does not overwrite files", file.string()));
  }
  {
    Database bundle(file.string());  // creates it with kjit's schema
    bundle.execute(kSchema);
  }
  std::lock_guard<std::mutex> lock(mutex_);
  Statement(*db_, "ATTACH DATABASE ?1 AS bundle").bind(1, file.string()).run();
  std::int64_t written = 0;
  try {
    in_transaction(*db_, [&] {
      Statement(*db_,
                "INSERT INTO bundle.kernels SELECT * FROM main.kernels "
                "WHERE instr(uri, ?1) > 0 OR ?1 = ''")
          .bind(1, match)
          .run();
      written = db_->changes();
    });
  } catch (...) {
    db_->execute("DETACH DATABASE bundle");
    throw;
  }
  db_->execute("DETACH DATABASE bundle");
  return written;
}

SqliteStore::ImportResult SqliteStore::import_bundle(const std::filesystem::path& file) {
  if (!std::filesystem::is_regular_file(file)) {
    throw CacheError(fmt::format("{} is not a file", file.string()));
  }
  // Read the bundle through its own read-only connection: a corrupt file fails here.
  std::vector<CacheEntry> entries;
  try {
    Database bundle("file:" + file.string() + "?mode=ro");
    Statement all(bundle, fmt::format("SELECT {}, cubin, source FROM kernels", kSummaryColumns));
    while (all.step()) {
      CacheEntry entry = read_summary(all);
      entry.cubin = all.blob(12);
      entry.source = all.blob(13);
      entries.push_back(std::move(entry));
    }
  } catch (const CacheError& error) {
    throw CacheError(
        fmt::format("{} is not a readable kjit bundle: {}", file.string(), error.what()));
  }
  ImportResult result;
  std::lock_guard<std::mutex> lock(mutex_);
  in_transaction(*db_, [&] {
    for (const CacheEntry& entry : entries) {
      if (static_cast<std::int64_t>(entry.cubin.size()) != entry.cubin_bytes ||
          sha256_hex(entry.cubin) != entry.cubin_sha256 || entry.key.size() != 64) {
        ++result.rejected;
        continue;
      }
      insert_ignore(entry);
      if (db_->changes() > 0) {
        ++result.imported;
      } else {
        ++result.present;
      }
    }
  });
  return result;
}

std::string SqliteStore::integrity_check() {
  std::lock_guard<std::mutex> lock(mutex_);
  Statement check(*db_, "PRAGMA integrity_check");
  std::string result;
  while (check.step()) result += (result.empty() ? "" : "; ") + check.text(0);
  return result;
}

}  // namespace kjit::cache
