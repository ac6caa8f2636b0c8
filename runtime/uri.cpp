#include "uri.hpp"

#include <fmt/format.h>

namespace kjit {

std::string make_uri(const KernelSpec& spec) {
  // The sink variant is a different kernel (FlashInfer names it the same way), so it says so in
  // the first words; every other field follows in a fixed order.
  const char* variant = spec.use_sinks ? "with_attention_sink" : "with_kv_cache";
  return fmt::format(
      "{}_{}_dtype_q_{}_dtype_kv_{}_dtype_o_{}_dtype_idx_{}_head_dim_{}_use_swa_{}_use_logits_cap_{"
      "}",
      spec.family, variant, short_name(spec.dtype_q), short_name(spec.dtype_kv),
      short_name(spec.output_dtype()), short_name(spec.dtype_idx), spec.head_dim,
      spec.use_swa ? 1 : 0, spec.use_logits_cap ? 1 : 0);
}

}  // namespace kjit
