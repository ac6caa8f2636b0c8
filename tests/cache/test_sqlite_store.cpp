#include <doctest/doctest.h>

#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include <sqlite3.h>

#include "cache/cache_dir.hpp"
#include "cache/sqlite_store.hpp"
#include "sha256.hpp"
#include "temp_dir.hpp"

using kjit::cache::CacheEntry;
using kjit::cache::SqliteStore;

namespace {

CacheEntry make_entry(const std::string& uri, const std::string& cubin) {
  CacheEntry entry;
  entry.key = kjit::sha256_hex(uri + cubin);
  entry.uri = uri;
  entry.arch = "sm_90";
  entry.nvrtc_version = "13.0";
  entry.options = "-std=c++17";
  entry.source = "// source of " + uri;
  entry.source_sha256 = kjit::sha256_hex(entry.source);
  entry.cubin = cubin;
  entry.cubin_sha256 = kjit::sha256_hex(cubin);
  entry.cubin_bytes = static_cast<std::int64_t>(cubin.size());
  entry.compile_ms = 12.5;
  entry.created_at = entry.last_used_at = 1700000000;
  return entry;
}

// Rewrites the stored cubin of `key` behind the store's back, keeping the recorded checksum.
void corrupt_cubin(const std::filesystem::path& dir, const std::string& key) {
  kjit::cache::Database db(kjit::cache::database_path(dir).string());
  std::string cubin;
  {
    kjit::cache::Statement read(db, "SELECT cubin FROM kernels WHERE key = ?1");
    read.bind(1, key);
    REQUIRE(read.step());
    cubin = read.blob(0);
  }
  cubin[cubin.size() / 2] ^= 0x01;
  kjit::cache::Statement(db, "UPDATE kernels SET cubin = ?2 WHERE key = ?1")
      .bind(1, key)
      .bind_blob(2, cubin)
      .run();
}

}  // namespace

TEST_CASE("store and find round-trip every field") {
  kjit::testing::TempDir dir;
  auto store = SqliteStore::open(dir.path());
  const CacheEntry entry = make_entry("batch_decode_x", std::string("\x7f"
                                                                    "ELF\0binary",
                                                                    10));
  store->put(entry);
  const auto found = store->find(entry.key);
  REQUIRE(found);
  CHECK(found->cubin == entry.cubin);
  CHECK(found->uri == entry.uri);
  CHECK(found->arch == "sm_90");
  CHECK(found->compile_ms == doctest::Approx(12.5));
  CHECK(found->hits == 1);
  CHECK_FALSE(store->find("no-such-key"));
  const auto stats = store->stats();
  CHECK(stats.entries == 1);
  CHECK(stats.total_bytes == 10);
  CHECK(stats.hits == 1);
  CHECK(stats.misses == 1);
  CHECK(store->integrity_check() == "ok");
  const auto described = store->describe(entry.uri);
  REQUIRE(described);
  CHECK(described->source == entry.source);
  CHECK(store->describe(entry.key.substr(0, 10)));
  CHECK_FALSE(store->describe(entry.key.substr(0, 4)));  // too short to be a key prefix
}

TEST_CASE("the database is private and survives reopening") {
  kjit::testing::TempDir dir;
  const CacheEntry entry = make_entry("uri_a", "cubin-a");
  SqliteStore::open(dir.path())->put(entry);
  struct stat info {};
  REQUIRE(stat(kjit::cache::database_path(dir.path()).c_str(), &info) == 0);
  CHECK((info.st_mode & 0777) == 0600);
  CHECK(SqliteStore::open(dir.path())->find(entry.key));
}

TEST_CASE("a flipped byte in a stored cubin is detected and the entry dropped") {
  kjit::testing::TempDir dir;
  const CacheEntry entry = make_entry("uri_flip", std::string(4096, 'c'));
  SqliteStore::open(dir.path())->put(entry);
  corrupt_cubin(dir.path(), entry.key);
  auto store = SqliteStore::open(dir.path());
  CHECK_FALSE(store->find(entry.key));
  CHECK(store->stats().entries == 0);
}

TEST_CASE("list and remove filter by URI substring, taken literally") {
  kjit::testing::TempDir dir;
  auto store = SqliteStore::open(dir.path());
  store->put(make_entry("decode_e4m3_a", "1"));
  store->put(make_entry("decode_e4m3_b", "2"));
  store->put(make_entry("decode_bf16_c", "3"));
  store->put(make_entry("odd_%_name", "4"));
  CHECK(store->list().size() == 4);
  CHECK(store->list("e4m3").size() == 2);
  CHECK(store->list("%").size() == 1);     // not a LIKE wildcard
  CHECK(store->list("\xff\xfe").empty());  // invalid UTF-8 is just bytes
  CHECK(store->remove("e4m3") == 2);
  CHECK(store->list().size() == 2);
  CHECK(store->remove() == 2);
  CHECK(store->stats().entries == 0);
}

TEST_CASE("a file that is not a database is moved aside and replaced") {
  kjit::testing::TempDir dir;
  {
    std::ofstream junk(kjit::cache::database_path(dir.path()), std::ios::binary);
    junk << std::string(8192, 'x');
  }
  auto store = SqliteStore::open(dir.path());
  store->put(make_entry("after_recovery", "ok"));
  CHECK(store->list().size() == 1);
  int moved_aside = 0;
  for (const auto& file : std::filesystem::directory_iterator(dir.path())) {
    moved_aside += file.path().filename().string().find(".corrupt-") != std::string::npos;
  }
  CHECK(moved_aside == 1);
}

TEST_CASE("opening waits while another connection writes to a database not yet in WAL mode") {
  // SQLite refuses the switch to WAL at once, busy timeout or not, while another connection
  // holds a write lock in rollback-journal mode: what processes racing to create a fresh cache
  // run into. The store must wait for the lock instead of giving up on the disk.
  kjit::testing::TempDir dir;
  const std::string path = kjit::cache::database_path(dir.path()).string();
  sqlite3* writer = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &writer) == SQLITE_OK);
  REQUIRE(sqlite3_exec(writer, "BEGIN IMMEDIATE; CREATE TABLE other(x)", nullptr, nullptr,
                       nullptr) == SQLITE_OK);
  std::thread finish([writer] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    sqlite3_exec(writer, "COMMIT", nullptr, nullptr, nullptr);
  });
  const auto start = std::chrono::steady_clock::now();
  std::unique_ptr<SqliteStore> store;
  CHECK_NOTHROW(store = SqliteStore::open(dir.path()));
  finish.join();
  sqlite3_close(writer);
  CHECK(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(250));
  REQUIRE(store);
  const CacheEntry entry = make_entry("uri_after_wait", "cubin bytes");
  store->put(entry);
  CHECK(store->find(entry.key));
}

TEST_CASE("cache directories that are not private are refused") {
  kjit::testing::TempDir dir;
  const auto cache = dir.path() / "kjit";
  CHECK(kjit::cache::prepare_cache_dir(cache) == "");
  struct stat info {};
  REQUIRE(stat(cache.c_str(), &info) == 0);
  CHECK((info.st_mode & 0777) == 0700);
  chmod(cache.c_str(), 0777);
  const std::string problem = kjit::cache::prepare_cache_dir(cache);
  CHECK(problem.find("writable by group or others") != std::string::npos);
  CHECK(problem.find("chmod 700") != std::string::npos);
  std::ofstream(dir.path() / "file") << "x";
  CHECK(kjit::cache::prepare_cache_dir(dir.path() / "file").find("not a directory") !=
        std::string::npos);
}

TEST_CASE("prune keeps the total under the cap, least recently used first") {
  kjit::testing::TempDir dir;
  auto store = SqliteStore::open(dir.path());
  // Five 1000-byte entries, last used at t = 100, 500, 200, 400, 300.
  const std::int64_t last_used[] = {100, 500, 200, 400, 300};
  for (int i = 0; i < 5; ++i) {
    CacheEntry entry = make_entry("uri_" + std::to_string(i), std::string(1000, 'a' + i));
    entry.last_used_at = last_used[i];
    store->put(entry);
  }
  const auto evicted = store->prune(2500);
  REQUIRE(evicted.size() == 3);
  std::set<std::string> gone;
  for (const auto& entry : evicted) gone.insert(entry.uri);
  CHECK(gone == std::set<std::string>{"uri_0", "uri_2", "uri_4"});  // used at 100, 200, 300
  CHECK(store->stats().total_bytes <= 2500);
  CHECK(store->list().size() == 2);

  // Age limit, and a match that confines pruning.
  CHECK(store->prune(1 << 30, 450, "uri_1").empty());  // uri_1 was used at 500
  CHECK(store->prune(1 << 30, 450).size() == 1);       // uri_3 (400) is older than 450
  CHECK(store->list().size() == 1);
}

TEST_CASE("the size cap is applied on every store") {
  kjit::testing::TempDir dir;
  auto store = SqliteStore::open(dir.path());
  store->set_max_bytes(3000);
  for (int i = 0; i < 10; ++i) {
    CacheEntry entry = make_entry("capped_" + std::to_string(i), std::string(1000, 'x'));
    entry.last_used_at = 1000 + i;
    store->put(entry);
    CHECK(store->stats().total_bytes <= 3000);
  }
  std::set<std::string> kept;
  for (const auto& entry : store->list()) kept.insert(entry.uri);
  CHECK(kept == std::set<std::string>{"capped_7", "capped_8", "capped_9"});
}

TEST_CASE("verify finds corrupted entries and removes them with fix") {
  kjit::testing::TempDir dir;
  const CacheEntry good = make_entry("good", std::string(512, 'g'));
  const CacheEntry bad = make_entry("bad", std::string(512, 'b'));
  {
    auto store = SqliteStore::open(dir.path());
    store->put(good);
    store->put(bad);
  }
  corrupt_cubin(dir.path(), bad.key);
  auto store = SqliteStore::open(dir.path());
  const auto found = store->verify(false);
  REQUIRE(found.size() == 1);
  CHECK(found[0].uri == "bad");
  CHECK(store->list().size() == 2);  // reported, not removed
  CHECK(store->verify(true).size() == 1);
  CHECK(store->verify(false).empty());
  CHECK(store->list().size() == 1);
}
