#include "kernel_spec.hpp"

#include <nlohmann/json.hpp>

namespace kjit {

nlohmann::json to_json(const KernelSpec& spec) {
  return {
      {"family", spec.family},
      {"dtype_q", std::string(short_name(spec.dtype_q))},
      {"dtype_kv", std::string(short_name(spec.dtype_kv))},
      {"dtype_o", std::string(short_name(spec.output_dtype()))},
      {"dtype_idx", std::string(short_name(spec.dtype_idx))},
      {"head_dim", spec.head_dim},
      {"use_sinks", spec.use_sinks},
      {"use_swa", spec.use_swa},
      {"use_logits_cap", spec.use_logits_cap},
  };
}

}  // namespace kjit
