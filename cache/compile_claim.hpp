// Single flight across processes: before compiling a missing kernel, a process claims its key.
// The claim is an open-file-description byte-range lock (F_OFD_SETLK) on one byte of a single
// claims file in the cache directory, chosen by the key. The OS drops it when the holder exits or
// crashes, so no claim outlives its process and no per-key lock files accumulate. Keys sharing a
// byte only serialise each other.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>

namespace kjit::cache {

class CompileClaim {
 public:
  // Waits up to `timeout` for the claim on `key`. On timeout (or when the claims file cannot be
  // opened) the claim is not held and the caller compiles anyway: a stuck peer never blocks it.
  static CompileClaim acquire(const std::filesystem::path& directory, const std::string& key,
                              std::chrono::milliseconds timeout);

  CompileClaim(CompileClaim&& other) noexcept;
  CompileClaim& operator=(CompileClaim&&) = delete;
  CompileClaim(const CompileClaim&) = delete;
  ~CompileClaim();  // releases

  bool held() const { return fd_ >= 0; }
  bool waited() const { return waited_; }  // another process held it first

 private:
  CompileClaim() = default;
  int fd_ = -1;
  bool waited_ = false;
};

}  // namespace kjit::cache
