// Files compiled into the library at build time (tools/embed_files.cmake): the kernel templates
// and the CUDA toolkit headers NVRTC needs, so a deployed binary needs no toolkit headers.
#pragma once

#include <cstddef>
#include <string_view>

namespace kjit {

struct EmbeddedFile {
  std::string_view name;  // include name, e.g. "cuda_fp8.h", "nv/target", "batch_decode.cuh"
  std::string_view content;
  std::string_view sha256;  // of content, computed at build time
};

struct EmbeddedFileSet {
  const EmbeddedFile* begin_ = nullptr;
  std::size_t size_ = 0;
  const EmbeddedFile* begin() const { return begin_; }
  const EmbeddedFile* end() const { return begin_ + size_; }
  std::size_t size() const { return size_; }
};

EmbeddedFileSet embedded_templates();
EmbeddedFileSet embedded_cuda_headers();

}  // namespace kjit
