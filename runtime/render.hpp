// Stage 1 of the pipeline: KernelSpec -> RenderedSource (CUDA C++ plus the headers it may
// include). The .jinja config template renders types and flags; kernel bodies are ordinary
// headers in templates/.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "kernel_spec.hpp"

namespace kjit {

// A header NVRTC may include, by include name. Views into a TemplateLibrary or the embedded
// CUDA headers: valid while the library lives.
struct SourceFile {
  std::string_view name;
  std::string_view content;
  std::string_view sha256;
};

// The templates in use: the embedded ones, or a development directory (KJIT_TEMPLATE_DIR).
class TemplateLibrary {
 public:
  static const TemplateLibrary& embedded();
  static TemplateLibrary from_directory(const std::filesystem::path& directory);

  // Throws InvalidArgument naming the template and where it looked.
  SourceFile get(std::string_view name) const;
  const std::vector<SourceFile>& files() const { return files_; }
  const std::string& origin() const { return origin_; }  // "embedded" or the directory

 private:
  struct Owned {
    std::string name, content, sha256;
  };
  std::string origin_;
  std::vector<std::unique_ptr<Owned>> owned_;  // backing store for a directory library
  std::vector<SourceFile> files_;
};

struct RenderedSource {
  std::string uri;
  std::string file_name;  // what NVRTC calls the main source in its messages
  std::string source;
  std::vector<SourceFile> headers;  // every header the source may include
  std::string headers_digest;       // SHA-256 over the names and contents of `headers`
  std::vector<std::string> entry_points;
};

// Checks the spec with the guard first (throws GuardError), then renders.
RenderedSource render(const KernelSpec& spec, const TemplateLibrary& templates);

}  // namespace kjit
