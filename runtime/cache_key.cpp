#include "cache_key.hpp"

#include "sha256.hpp"

namespace kjit {

std::string cache_key(const RenderedSource& rendered, const GpuArch& arch,
                      const std::string& nvrtc_version, const std::vector<std::string>& options) {
  Sha256 hash;
  hash.update_field("kjit-cache-format-" + std::to_string(kCacheFormatVersion));
  hash.update_field(rendered.uri);
  hash.update_field(rendered.source);
  hash.update_field(rendered.headers_digest);
  hash.update_field(nvrtc_version);
  hash.update_field(arch.name());
  for (const std::string& option : options) hash.update_field(option);
  return hash.hex_digest();
}

}  // namespace kjit
