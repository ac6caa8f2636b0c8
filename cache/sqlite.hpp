// A thin RAII layer over the SQLite C API: a connection and prepared statements whose every
// error becomes a CacheError naming the statement and SQLite's message.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <sqlite3.h>

namespace kjit::cache {

class Database {
 public:
  // Opens (creating if needed) `path`, or an in-memory database for ":memory:".
  explicit Database(const std::string& path);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  void execute(std::string_view sql);
  sqlite3* handle() const { return db_; }
  std::int64_t changes() const { return sqlite3_changes64(db_); }

 private:
  sqlite3* db_ = nullptr;
};

class Statement {
 public:
  Statement(Database& db, std::string_view sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind(int index, std::string_view text);
  Statement& bind_blob(int index, std::string_view bytes);
  Statement& bind(int index, std::int64_t value);
  Statement& bind(int index, double value);

  bool step();  // true while a row is available
  void run();   // steps to completion

  std::string text(int column) const;
  std::string blob(int column) const;
  std::int64_t integer(int column) const;
  double real(int column) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* statement_ = nullptr;
  std::string sql_;
};

// Runs a function inside BEGIN IMMEDIATE ... COMMIT, rolling back if it throws.
template <typename Function>
void in_transaction(Database& db, Function&& function) {
  db.execute("BEGIN IMMEDIATE");
  try {
    function();
    db.execute("COMMIT");
  } catch (...) {
    sqlite3_exec(db.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

}  // namespace kjit::cache
