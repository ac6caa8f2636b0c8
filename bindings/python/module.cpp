// The _kjit extension module. kjit/__init__.py is the public face; this exposes the runtime,
// the cache and the decode plan, and maps kjit's errors onto Python's:
//   GuardError -> NotImplementedError, InvalidArgument -> ValueError, others -> kjit.Error.
#include <nanobind/nanobind.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>

#include "cache/sqlite_store.hpp"
#include "decode_plan.hpp"
#include "errors.hpp"
#include "guard.hpp"
#include "loaded_module.hpp"
#include "nvrtc_compiler.hpp"
#include "runtime.hpp"
#include "uri.hpp"

namespace nb = nanobind;
using namespace nb::literals;

namespace {

nb::dict entry_dict(const kjit::cache::CacheEntry& entry) {
  nb::dict row;
  row["uri"] = entry.uri;
  row["key"] = entry.key;
  row["arch"] = entry.arch;
  row["bytes"] = entry.cubin_bytes;
  row["hits"] = entry.hits;
  row["compile_ms"] = entry.compile_ms;
  row["nvrtc_version"] = entry.nvrtc_version;
  row["created_at"] = entry.created_at;
  row["last_used_at"] = entry.last_used_at;
  return row;
}

kjit::KernelSpec make_spec(const std::string& dtype_q, const std::string& dtype_kv, int head_dim,
                           bool use_sinks, bool use_swa, bool use_logits_cap,
                           const std::optional<std::string>& dtype_o) {
  kjit::KernelSpec spec;
  spec.dtype_q = kjit::parse_dtype(dtype_q);
  spec.dtype_kv = kjit::parse_dtype(dtype_kv);
  if (dtype_o) spec.dtype_o = kjit::parse_dtype(*dtype_o);
  spec.head_dim = head_dim;
  spec.use_sinks = use_sinks;
  spec.use_swa = use_swa;
  spec.use_logits_cap = use_logits_cap;
  return spec;
}

}  // namespace

NB_MODULE(_kjit, m) {
  m.doc() = "kjit native module (use the kjit package)";
  static nb::exception<kjit::Error> error(m, "Error", PyExc_RuntimeError);
  nb::register_exception_translator([](const std::exception_ptr& pointer, void*) {
    try {
      std::rethrow_exception(pointer);
    } catch (const kjit::GuardError& guard) {
      PyErr_SetString(PyExc_NotImplementedError, guard.what());
    } catch (const kjit::InvalidArgument& invalid) {
      PyErr_SetString(PyExc_ValueError, invalid.what());
    }
  });

  m.def(
      "parse_dtype",
      [](const std::string& name) {
        return std::string(kjit::short_name(kjit::parse_dtype(name)));
      },
      "name"_a);
  m.def("nvrtc_version", &kjit::nvrtc_version);
  m.def("cuda_available", &kjit::cuda_available);

  m.def(
      "validate",
      [](const std::string& dtype_q, const std::string& dtype_kv, int head_dim, bool use_sinks,
         bool use_swa, bool use_logits_cap, const std::optional<std::string>& dtype_o) {
        kjit::require_supported(
            make_spec(dtype_q, dtype_kv, head_dim, use_sinks, use_swa, use_logits_cap, dtype_o));
      },
      "dtype_q"_a, "dtype_kv"_a, "head_dim"_a, "use_sinks"_a, "use_swa"_a, "use_logits_cap"_a,
      "dtype_o"_a.none());
  m.def(
      "make_uri",
      [](const std::string& dtype_q, const std::string& dtype_kv, int head_dim, bool use_sinks,
         bool use_swa, bool use_logits_cap, const std::optional<std::string>& dtype_o) {
        const auto spec =
            make_spec(dtype_q, dtype_kv, head_dim, use_sinks, use_swa, use_logits_cap, dtype_o);
        kjit::require_supported(spec);
        return kjit::make_uri(spec);
      },
      "dtype_q"_a, "dtype_kv"_a, "head_dim"_a, "use_sinks"_a, "use_swa"_a, "use_logits_cap"_a,
      "dtype_o"_a.none());
  m.def(
      "get_kernel",
      [](const std::string& dtype_q, const std::string& dtype_kv, int head_dim, bool use_sinks,
         bool use_swa, bool use_logits_cap, const std::optional<std::string>& dtype_o,
         const std::optional<std::string>& arch) {
        const auto spec =
            make_spec(dtype_q, dtype_kv, head_dim, use_sinks, use_swa, use_logits_cap, dtype_o);
        kjit::require_supported(spec);
        const kjit::GpuArch target =
            arch ? kjit::GpuArch::parse(*arch) : kjit::device_arch(kjit::current_device());
        kjit::Kernel kernel = [&] {
          nb::gil_scoped_release release;  // compiling can take a second
          return kjit::Runtime::global().get(spec, target);
        }();
        nb::dict info;
        info["uri"] = kernel.uri();
        info["key"] = kernel.key();
        info["origin"] = kjit::origin_name(kernel.origin());
        info["arch"] = kernel.arch().name();
        info["bytes"] = kernel.cubin().size();
        info["compile_ms"] = kernel.compile_ms();
        return info;
      },
      "dtype_q"_a, "dtype_kv"_a, "head_dim"_a, "use_sinks"_a, "use_swa"_a, "use_logits_cap"_a,
      "dtype_o"_a.none(), "arch"_a.none());

  m.def("cache_list", [](const std::string& match) {
    nb::list rows;
    for (const auto& entry : kjit::Runtime::global().store().list(match))
      rows.append(entry_dict(entry));
    return rows;
  });
  m.def("cache_clear",
        [](const std::string& match) { return kjit::Runtime::global().store().remove(match); });
  m.def("cache_stats", [] {
    const auto stats = kjit::Runtime::global().store().stats();
    nb::dict out;
    out["location"] = stats.location;
    out["entries"] = stats.entries;
    out["total_bytes"] = stats.total_bytes;
    out["hits"] = stats.hits;
    out["misses"] = stats.misses;
    out["compile_ms"] = stats.compile_ms;
    return out;
  });

  using kjit::python::DecodePlan;
  // run() is the hot path: it is bound straight to C++ so that a call costs no Python frame.
  static const char* const kRunDoc =
      "Decode attention for ``q`` (batch, num_qo_heads, head_dim).\n\n"
      "``kv_cache`` is a (k, v) pair of (num_pages, page_size, num_kv_heads, head_dim) tensors\n"
      "(NHD; HND swaps the middle two), or one (num_pages, 2, ...) tensor. FP8 caches may be\n"
      "float8 tensors or uint8 views. ``sinks`` (num_qo_heads,) float32 is required exactly\n"
      "when the plan used ``use_sinks=True``. ``out``/``lse`` are allocated like ``q`` when\n"
      "not given (torch tensors only). Launches on ``stream`` (an int, a torch or CuPy stream)\n"
      "or the current one; no synchronisation, no host allocation when ``out`` (and ``lse``)\n"
      "are given, so it can be captured in a CUDA graph. Returns ``out``, or ``(out, lse)``\n"
      "with ``return_lse``.";
  nb::class_<DecodePlan>(m, "DecodePlan")
      .def(nb::init<nb::handle, const std::string&>(), "workspace"_a, "kv_layout"_a)
      .def(
          "plan",
          [](DecodePlan& self, nb::handle indptr, nb::handle indices, nb::handle last_page_len,
             int num_qo_heads, int num_kv_heads, int head_dim, int page_size,
             const std::string& q_dtype, const std::string& kv_dtype,
             const std::optional<std::string>& o_dtype, bool use_sinks, int window_left,
             float logits_soft_cap, std::optional<float> sm_scale, nb::handle stream) {
            kjit::python::PlanArguments arguments;
            arguments.num_qo_heads = num_qo_heads;
            arguments.num_kv_heads = num_kv_heads;
            arguments.head_dim = head_dim;
            arguments.page_size = page_size;
            arguments.q_dtype = q_dtype;
            arguments.kv_dtype = kv_dtype;
            arguments.o_dtype = o_dtype;
            arguments.use_sinks = use_sinks;
            arguments.window_left = window_left;
            arguments.logits_soft_cap = logits_soft_cap;
            arguments.sm_scale = sm_scale;
            self.plan(indptr, indices, last_page_len, arguments, stream);
          },
          "indptr"_a, "indices"_a, "last_page_len"_a, "num_qo_heads"_a, "num_kv_heads"_a,
          "head_dim"_a, "page_size"_a, "q_dtype"_a, "kv_dtype"_a, "o_dtype"_a.none(), "use_sinks"_a,
          "window_left"_a, "logits_soft_cap"_a, "sm_scale"_a.none(), "stream"_a.none() = nb::none())
      .def("run", &DecodePlan::run, "q"_a, "kv_cache"_a, nb::kw_only(),
           "sinks"_a.none() = nb::none(), "k_scale"_a = 1.0f, "v_scale"_a = 1.0f,
           "return_lse"_a = false, "out"_a.none() = nb::none(), "lse"_a.none() = nb::none(),
           "stream"_a.none() = nb::none(), kRunDoc)
      .def_prop_ro("kernel_uri", &DecodePlan::kernel_uri)
      .def_prop_ro("batch_size", &DecodePlan::batch_size)
      .def_prop_ro("device", &DecodePlan::device)
      .def_prop_ro("dtype_o", [](const DecodePlan& self) {
        return std::string(kjit::short_name(self.spec().output_dtype()));
      });
}
