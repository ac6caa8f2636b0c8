#include "render.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "batch_decode_params.h"
#include "decode_tunables.hpp"
#include "embedded_files.hpp"
#include "errors.hpp"
#include "guard.hpp"
#include "sha256.hpp"
#include "template_renderer.hpp"
#include "uri.hpp"

namespace kjit {
namespace {

constexpr const char* kBatchDecodeConfigTemplate = "batch_decode.cu.jinja";

std::string digest_of(const std::vector<SourceFile>& headers) {
  Sha256 hash;
  for (const SourceFile& header : headers)
    hash.update_field(header.name).update_field(header.sha256);
  return hash.hex_digest();
}

nlohmann::json batch_decode_context(const KernelSpec& spec, const std::string& uri) {
  nlohmann::json context = to_json(spec);
  context["uri"] = uri;
  context["entry_point"] = kBatchDecodeEntryPoint;
  context["merge_entry_point"] = kBatchDecodeMergeEntryPoint;
  context["shared_bytes_symbol"] = kBatchDecodeSharedBytesSymbol;
  context["cuda_dtype_q"] = std::string(cuda_type_name(spec.dtype_q));
  context["cuda_dtype_kv"] = std::string(cuda_type_name(spec.dtype_kv));
  context["cuda_dtype_o"] = std::string(cuda_type_name(spec.output_dtype()));
  const DecodeTunables tunables = choose_decode_tunables(spec);
  context["tunables"] = {{"stages", tunables.stages},
                         {"min_blocks_per_sm", tunables.min_blocks_per_sm},
                         {"l2_prefetch_bytes", tunables.l2_prefetch_bytes},
                         {"q_in_shared", tunables.q_in_shared}};
  return context;
}

}  // namespace

const TemplateLibrary& TemplateLibrary::embedded() {
  static const TemplateLibrary library = [] {
    TemplateLibrary result;
    result.origin_ = "embedded";
    for (const EmbeddedFile& file : embedded_templates()) {
      result.files_.push_back({file.name, file.content, file.sha256});
    }
    return result;
  }();
  return library;
}

TemplateLibrary TemplateLibrary::from_directory(const std::filesystem::path& directory) {
  TemplateLibrary result;
  result.origin_ = directory.string();
  // The directory replaces the embedded templates file by file; names it lacks stay embedded,
  // so a developer can override one header.
  for (const EmbeddedFile& file : embedded_templates()) {
    const std::filesystem::path path = directory / std::string(file.name);
    std::ifstream stream(path, std::ios::binary);
    if (!stream) {
      result.files_.push_back({file.name, file.content, file.sha256});
      continue;
    }
    std::ostringstream content;
    content << stream.rdbuf();
    auto owned = std::make_unique<Owned>();
    owned->name = std::string(file.name);
    owned->content = content.str();
    owned->sha256 = sha256_hex(owned->content);
    result.files_.push_back({owned->name, owned->content, owned->sha256});
    result.owned_.push_back(std::move(owned));
  }
  return result;
}

SourceFile TemplateLibrary::get(std::string_view name) const {
  for (const SourceFile& file : files_) {
    if (file.name == name) return file;
  }
  throw InvalidArgument(fmt::format("template '{}' not found in {}", name, origin_));
}

RenderedSource render(const KernelSpec& spec, const TemplateLibrary& templates) {
  require_supported(spec);
  RenderedSource rendered;
  rendered.uri = make_uri(spec);
  rendered.file_name = rendered.uri + ".cu";
  const SourceFile config = templates.get(kBatchDecodeConfigTemplate);
  rendered.source =
      render_template(config.name, config.content, batch_decode_context(spec, rendered.uri));
  rendered.entry_points = {kBatchDecodeEntryPoint, kBatchDecodeMergeEntryPoint};

  for (const SourceFile& file : templates.files()) {
    const bool is_template =
        file.name.size() > 6 && file.name.substr(file.name.size() - 6) == ".jinja";
    if (!is_template) rendered.headers.push_back(file);
  }
  for (const EmbeddedFile& file : embedded_cuda_headers()) {
    rendered.headers.push_back({file.name, file.content, file.sha256});
  }
  rendered.headers_digest = digest_of(rendered.headers);
  return rendered;
}

}  // namespace kjit
