#include "sqlite.hpp"

#include <fmt/format.h>

#include "errors.hpp"

namespace kjit::cache {
namespace {

// Result codes that mean the file system, not SQL, refused: the disk tier is unusable.
bool is_storage_refusal(int code) {
  switch (code & 0xff) {
    case SQLITE_FULL:
    case SQLITE_READONLY:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
      return true;
    default:
      return false;
  }
}

[[noreturn]] void fail(sqlite3* db, int code, std::string_view what) {
  throw CacheError(
      fmt::format("SQLite error in {}: {} ({})", what,
                  db ? sqlite3_errmsg(db) : sqlite3_errstr(code), sqlite3_errstr(code)),
      is_storage_refusal(code));
}

}  // namespace

Database::Database(const std::string& path) {
  const int flags =
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI;
  const int code = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
  if (code != SQLITE_OK) {
    std::string message = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(code);
    sqlite3_close(db_);
    db_ = nullptr;
    throw CacheError(fmt::format("cannot open cache database {}: {}", path, message),
                     is_storage_refusal(code));
  }
  sqlite3_extended_result_codes(db_, 1);
}

Database::~Database() { sqlite3_close_v2(db_); }

void Database::execute(std::string_view sql) {
  const std::string statement(sql);
  char* message = nullptr;
  const int code = sqlite3_exec(db_, statement.c_str(), nullptr, nullptr, &message);
  if (code != SQLITE_OK) {
    std::string text = message ? message : sqlite3_errstr(code);
    sqlite3_free(message);
    throw CacheError(
        fmt::format("SQLite error in '{}': {} ({})", statement, text, sqlite3_errstr(code)),
        is_storage_refusal(code));
  }
}

Statement::Statement(Database& db, std::string_view sql) : db_(db.handle()), sql_(sql) {
  const int code =
      sqlite3_prepare_v2(db_, sql_.c_str(), static_cast<int>(sql_.size()), &statement_, nullptr);
  if (code != SQLITE_OK) fail(db_, code, sql_);
}

Statement::~Statement() { sqlite3_finalize(statement_); }

Statement& Statement::bind(int index, std::string_view text) {
  const int code = sqlite3_bind_text(statement_, index, text.data(), static_cast<int>(text.size()),
                                     SQLITE_TRANSIENT);
  if (code != SQLITE_OK) fail(db_, code, sql_);
  return *this;
}

Statement& Statement::bind_blob(int index, std::string_view bytes) {
  const int code =
      sqlite3_bind_blob64(statement_, index, bytes.data(), bytes.size(), SQLITE_TRANSIENT);
  if (code != SQLITE_OK) fail(db_, code, sql_);
  return *this;
}

Statement& Statement::bind(int index, std::int64_t value) {
  const int code = sqlite3_bind_int64(statement_, index, value);
  if (code != SQLITE_OK) fail(db_, code, sql_);
  return *this;
}

Statement& Statement::bind(int index, double value) {
  const int code = sqlite3_bind_double(statement_, index, value);
  if (code != SQLITE_OK) fail(db_, code, sql_);
  return *this;
}

bool Statement::step() {
  const int code = sqlite3_step(statement_);
  if (code == SQLITE_ROW) return true;
  if (code == SQLITE_DONE) return false;
  fail(db_, code, sql_);
}

void Statement::run() {
  while (step()) {
  }
}

std::string Statement::text(int column) const {
  const auto* data = sqlite3_column_text(statement_, column);
  return data ? std::string(reinterpret_cast<const char*>(data),
                            static_cast<std::size_t>(sqlite3_column_bytes(statement_, column)))
              : std::string();
}

std::string Statement::blob(int column) const {
  const void* data = sqlite3_column_blob(statement_, column);
  return data ? std::string(static_cast<const char*>(data),
                            static_cast<std::size_t>(sqlite3_column_bytes(statement_, column)))
              : std::string();
}

std::int64_t Statement::integer(int column) const {
  return sqlite3_column_int64(statement_, column);
}

double Statement::real(int column) const { return sqlite3_column_double(statement_, column); }

}  // namespace kjit::cache
