// The commands that inspect and manage the cache: list, show, stats, clear, prune, verify,
// export, import.
#include <ctime>
#include <iostream>
#include <limits>

#include <fmt/format.h>

#include "cli_common.hpp"
#include "errors.hpp"
#include "knobs.hpp"

namespace kjit::cli {

int run_list(const GlobalOptions& global, const std::string& match) {
  kjit::Runtime runtime(runtime_options(global));
  const auto entries = runtime.store().list(match);
  if (global.json) {
    json rows = json::array();
    for (const auto& entry : entries) rows.push_back(entry_json(entry));
    print_json(rows);
    return kExitOk;
  }
  if (entries.empty()) {
    std::cout << "no cached kernels" << (match.empty() ? "" : " matching '" + match + "'") << " in "
              << runtime.store().location() << "\n";
    return kExitOk;
  }
  std::cout << fmt::format("{:<16} {:<6} {:>9} {:>5}  {:<20}  {}\n", "KEY", "ARCH", "BYTES", "HITS",
                           "LAST USED", "URI");
  for (const auto& entry : entries) {
    std::cout << fmt::format("{:<16} {:<6} {:>9} {:>5}  {:<20}  {}\n", entry.key.substr(0, 16),
                             entry.arch, entry.cubin_bytes, entry.hits,
                             iso_time(entry.last_used_at), entry.uri);
  }
  return kExitOk;
}

int run_show(const GlobalOptions& global, const std::string& which, bool source) {
  kjit::Runtime runtime(runtime_options(global));
  const auto entry = runtime.store().describe(which);
  if (!entry) {
    std::cerr << "kjit: no cached kernel with URI or key '" << which << "' in "
              << runtime.store().location() << " (see `kjit list`)\n";
    return kExitError;
  }
  if (global.json) {
    json value = entry_json(*entry);
    if (source) value["source"] = entry->source;
    print_json(value);
    return kExitOk;
  }
  if (source) {
    std::cout << entry->source;
    return kExitOk;
  }
  const json value = entry_json(*entry);
  for (const auto& [name, field] : value.items()) {
    std::cout << fmt::format("{:<14} {}\n", name,
                             field.is_string() ? field.get<std::string>() : field.dump());
  }
  return kExitOk;
}

int run_stats(const GlobalOptions& global) {
  kjit::Runtime runtime(runtime_options(global));
  const kjit::cache::CacheStats stats = runtime.store().stats();
  if (global.json) {
    print_json({{"location", stats.location},
                {"entries", stats.entries},
                {"total_bytes", stats.total_bytes},
                {"hits", stats.hits},
                {"misses", stats.misses},
                {"compile_ms", stats.compile_ms}});
    return kExitOk;
  }
  std::cout << fmt::format(
      "location     {}\nentries      {}\ntotal bytes  {}\nhits         {}\nmisses       {}\n"
      "compile time {:.0f} ms\n",
      stats.location, stats.entries, stats.total_bytes, stats.hits, stats.misses, stats.compile_ms);
  return kExitOk;
}

int run_clear(const GlobalOptions& global, const std::string& match) {
  kjit::Runtime runtime(runtime_options(global));
  const std::int64_t removed = runtime.store().remove(match);
  if (global.json) {
    print_json({{"removed", removed}, {"match", match}});
  } else {
    std::cout << fmt::format("removed {} entr{}{}\n", removed, removed == 1 ? "y" : "ies",
                             match.empty() ? "" : " matching '" + match + "'");
  }
  return kExitOk;
}

int run_prune(const GlobalOptions& global, const std::string& max_size,
              const std::string& older_than, const std::string& match) {
  if (max_size.empty() && older_than.empty() && match.empty()) {
    throw kjit::InvalidArgument("prune needs --max-size, --older-than or --match");
  }
  const std::int64_t max_bytes = max_size.empty()
                                     ? std::numeric_limits<std::int64_t>::max()
                                     : static_cast<std::int64_t>(kjit::knobs::parse_size(max_size));
  std::int64_t unused_since = 0;
  if (!older_than.empty())
    unused_since = std::time(nullptr) - kjit::knobs::parse_duration(older_than);
  // --match alone removes every matching entry.
  const std::int64_t cap = (max_size.empty() && older_than.empty()) ? 0 : max_bytes;
  kjit::Runtime runtime(runtime_options(global));
  const auto evicted = runtime.store().prune(cap, unused_since, match);
  if (global.json) {
    json rows = json::array();
    for (const auto& entry : evicted) rows.push_back(entry_json(entry));
    print_json({{"evicted", rows}});
    return kExitOk;
  }
  for (const auto& entry : evicted) {
    std::cout << fmt::format("evicted {} ({} bytes, last used {})\n", entry.uri, entry.cubin_bytes,
                             iso_time(entry.last_used_at));
  }
  std::cout << fmt::format("evicted {} entr{}\n", evicted.size(),
                           evicted.size() == 1 ? "y" : "ies");
  return kExitOk;
}

int run_verify(const GlobalOptions& global, bool fix) {
  kjit::Runtime runtime(runtime_options(global));
  const std::string integrity = runtime.store().integrity_check();
  const auto bad = runtime.store().verify(fix);
  if (global.json) {
    json rows = json::array();
    for (const auto& entry : bad) rows.push_back(entry_json(entry));
    print_json({{"integrity", integrity}, {"bad_entries", rows}, {"fixed", fix}});
  } else {
    std::cout << "database integrity: " << integrity << "\n";
    for (const auto& entry : bad) {
      std::cout << fmt::format("checksum mismatch: {} ({}){}\n", entry.uri, entry.key.substr(0, 16),
                               fix ? ", removed" : "");
    }
    std::cout << fmt::format("{} entr{} failed verification\n", bad.size(),
                             bad.size() == 1 ? "y" : "ies");
  }
  return integrity == "ok" && (bad.empty() || fix) ? kExitOk : kExitError;
}

int run_export(const GlobalOptions& global, const std::string& file, const std::string& match) {
  kjit::Runtime runtime(runtime_options(global));
  const std::int64_t written = runtime.store().export_bundle(file, match);
  if (global.json) {
    print_json({{"file", file}, {"exported", written}});
  } else {
    std::cout << fmt::format("exported {} entr{} to {}\n", written, written == 1 ? "y" : "ies",
                             file);
  }
  return kExitOk;
}

int run_import(const GlobalOptions& global, const std::string& file) {
  kjit::Runtime runtime(runtime_options(global));
  const auto result = runtime.store().import_bundle(file);
  if (global.json) {
    print_json({{"file", file},
                {"imported", result.imported},
                {"present", result.present},
                {"rejected", result.rejected}});
  } else {
    std::cout << fmt::format("imported {}, already present {}, rejected (bad checksum) {}\n",
                             result.imported, result.present, result.rejected);
  }
  return result.rejected == 0 ? kExitOk : kExitError;
}

}  // namespace kjit::cli
