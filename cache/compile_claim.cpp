#include "compile_claim.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

#include "log.hpp"

namespace kjit::cache {
namespace {

// The byte of the claims file that stands for a key (keys are hex SHA-256).
off_t claim_offset(const std::string& key) {
  return static_cast<off_t>(std::stoull(key.substr(0, 8), nullptr, 16) % (1u << 20));
}

bool try_lock(int fd, off_t offset) {
  struct flock lock {};
  lock.l_type = F_WRLCK;
  lock.l_whence = SEEK_SET;
  lock.l_start = offset;
  lock.l_len = 1;
  return fcntl(fd, F_OFD_SETLK, &lock) == 0;
}

}  // namespace

CompileClaim CompileClaim::acquire(const std::filesystem::path& directory, const std::string& key,
                                   std::chrono::milliseconds timeout) {
  CompileClaim claim;
  const std::filesystem::path path = directory / "claims.lock";
  const int fd = ::open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) return claim;  // no claims possible (read-only directory): compile uncoordinated
  const off_t offset = claim_offset(key);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto pause = std::chrono::milliseconds(1);
  while (!try_lock(fd, offset)) {
    if ((errno != EAGAIN && errno != EACCES) || std::chrono::steady_clock::now() >= deadline) {
      log::warn("waited {} ms for another process compiling kernel {}; compiling it here too",
                timeout.count(), key.substr(0, 16));
      ::close(fd);
      claim.waited_ = true;
      return claim;
    }
    claim.waited_ = true;
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(50));
  }
  claim.fd_ = fd;
  return claim;
}

CompileClaim::CompileClaim(CompileClaim&& other) noexcept : fd_(other.fd_), waited_(other.waited_) {
  other.fd_ = -1;
}

CompileClaim::~CompileClaim() {
  if (fd_ >= 0) ::close(fd_);  // closing the description drops its OFD locks
}

}  // namespace kjit::cache
