// libFuzzer target: any template text renders or throws TemplateError; nothing else may happen
// (crashes, other exceptions, sanitizer reports). Run with tools/fuzz.sh.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "errors.hpp"
#include "template_renderer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const nlohmann::json context = {{"name", "nv_bfloat16"},
                                         {"dim", 64},
                                         {"on", true},
                                         {"off", false},
                                         {"list", {1, 2, 3}},
                                         {"nested", {{"a", {{"b", "c"}}}}},
                                         {"empty", nlohmann::json::array()}};
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    kjit::render_template("fuzz.jinja", text, context);
  } catch (const kjit::TemplateError&) {
  }
  return 0;
}
