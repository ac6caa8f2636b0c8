// SHA-256 (OpenSSL's libcrypto) for cache keys and cubin checksums.
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace kjit {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  Sha256& update(std::string_view bytes);
  // Length-prefixed, so that ("ab", "c") and ("a", "bc") hash differently.
  Sha256& update_field(std::string_view bytes);
  std::string hex_digest();  // 64 lowercase hex characters; the object is spent afterwards

 private:
  struct State;
  std::unique_ptr<State> state_;
};

std::string sha256_hex(std::string_view bytes);

}  // namespace kjit
