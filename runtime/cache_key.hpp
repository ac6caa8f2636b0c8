// The cache key: identifies a binary, not a variant. Any input that can change the cubin is
// hashed in, so a stale cubin can never be found under a new key.
#pragma once

#include <string>
#include <vector>

#include "gpu_arch.hpp"
#include "render.hpp"

namespace kjit {

// Bumped whenever the meaning of a stored entry changes.
inline constexpr int kCacheFormatVersion = 1;

// SHA-256 (hex) of: format version, URI, rendered source, every header's name and content
// digest, NVRTC version, target arch and compile options.
std::string cache_key(const RenderedSource& rendered, const GpuArch& arch,
                      const std::string& nvrtc_version, const std::vector<std::string>& options);

}  // namespace kjit
