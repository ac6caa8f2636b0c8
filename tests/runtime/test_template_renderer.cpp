#include <doctest/doctest.h>

#include <string>

#include "errors.hpp"
#include "template_renderer.hpp"

using nlohmann::json;

namespace {

std::string render(const std::string& text, const json& context = json::object()) {
  return kjit::render_template("test.jinja", text, context);
}

// The TemplateError message for `text`.
std::string error_of(const std::string& text, const json& context = json::object()) {
  try {
    render(text, context);
  } catch (const kjit::TemplateError& error) {
    return error.what();
  }
  FAIL("expected a TemplateError for: " << text);
  return "";
}

}  // namespace

TEST_CASE("variables: strings, numbers, booleans in C++ spelling, dotted paths") {
  const json context = {{"name", "nv_bfloat16"},
                        {"dim", 64},
                        {"on", true},
                        {"off", false},
                        {"cfg", {{"tile", {{"rows", 16}}}}}};
  CHECK(render("using T = {{ name }};", context) == "using T = nv_bfloat16;");
  CHECK(render("{{dim}}/{{ on }}/{{ off }}", context) == "64/true/false");
  CHECK(render("{{ cfg.tile.rows }}", context) == "16");
  CHECK(render("no tags at all { } {x} %}", context) == "no tags at all { } {x} %}");
}

TEST_CASE("if / elif / else with comparisons and boolean operators") {
  const std::string text =
      "{% if kv == \"e4m3\" %}fp8{% elif kv == 'bf16' and not sinks %}bf16{% else %}other{% endif "
      "%}";
  CHECK(render(text, {{"kv", "e4m3"}, {"sinks", true}}) == "fp8");
  CHECK(render(text, {{"kv", "bf16"}, {"sinks", false}}) == "bf16");
  CHECK(render(text, {{"kv", "bf16"}, {"sinks", true}}) == "other");
  CHECK(render("{% if d != 64 or (x and y) %}a{% endif %}", {{"d", 64}, {"x", true}, {"y", 0}}) ==
        "");
  CHECK(render("{% if d == 128 %}a{% endif %}", {{"d", 128}}) == "a");
  CHECK(render("{% if outer %}{% if inner %}both{% else %}outer{% endif %}{% endif %}",
               {{"outer", true}, {"inner", false}}) == "outer");
}

TEST_CASE("for loops with loop variables and nesting") {
  const json context = {{"dims", {64, 128}}, {"names", {"a", "b", "c"}}};
  CHECK(render("{% for d in dims %}{{ d }}{% if not loop.last %},{% endif %}{% endfor %}",
               context) == "64,128");
  CHECK(render("{% for n in names %}{{ loop.index }}{{ n }}{% endfor %}", context) == "1a2b3c");
  CHECK(render("{% for d in dims %}{% for n in names %}{{ n }}{{ d }} {% endfor %}{% endfor %}",
               context) == "a64 b64 c64 a128 b128 c128 ");
  CHECK(render("{% for d in empty %}x{% endfor %}", {{"empty", json::array()}}) == "");
}

TEST_CASE("comments vanish; block tags alone on a line take the line with them") {
  CHECK(render("a{# note {{ undefined }} #}b") == "ab");
  const std::string text =
      "line1\n"
      "  {% if on %}\n"
      "on\n"
      "  {% endif %}\n"
      "{# a comment line #}\n"
      "line2 {{ x }}\n";
  CHECK(render(text, {{"on", true}, {"x", 1}}) == "line1\non\nline2 1\n");
  CHECK(render(text, {{"on", false}, {"x", 1}}) == "line1\nline2 1\n");
}

TEST_CASE("errors name the template, line and column") {
  const std::string undefined = error_of("ok\n  {{ missing }}");
  CHECK(undefined.find("test.jinja") != std::string::npos);
  CHECK(undefined.find("line 2, column 3") != std::string::npos);
  CHECK(undefined.find("undefined variable 'missing'") != std::string::npos);

  CHECK(error_of("{{ a.b }}", {{"a", {{"c", 1}}}}).find("undefined variable 'a.b'") !=
        std::string::npos);
  CHECK(error_of("x {{ name ").find("line 1, column 3: unterminated tag") != std::string::npos);
  CHECK(error_of("{% if x %}never closed", {{"x", 1}}).find("'{% if %}' is never closed") !=
        std::string::npos);
  CHECK(error_of("\n\n{% endif %}").find("line 3, column 1") != std::string::npos);
  CHECK(error_of("{% endfor %}").find("without a matching opening tag") != std::string::npos);
  CHECK(error_of("{% include 'x' %}").find("unknown statement 'include'") != std::string::npos);
  CHECK(error_of("{% for in %}{% endfor %}").find("malformed for") != std::string::npos);
  CHECK(error_of("{% if %}{% endif %}").find("expected an expression") != std::string::npos);
  CHECK(error_of("{{ a == }}", {{"a", 1}}).find("expected an expression") != std::string::npos);
  CHECK(error_of("{{ 'open }}").find("unterminated string") != std::string::npos);
  CHECK(error_of("{{ a + b }}").find("unexpected character '+'") != std::string::npos);
  CHECK(error_of("{% if x %}{% else %}{% else %}{% endif %}", {{"x", 1}})
            .find("without a matching opening tag") != std::string::npos);
  CHECK(error_of("{% for x in n %}{% endfor %}", {{"n", 3}}).find("expected a list") !=
        std::string::npos);
  CHECK(error_of("{% endif extra %}").find("line 1, column 1") != std::string::npos);
  // Found by tools/fuzz.sh: a literal past long long threw std::out_of_range.
  CHECK(error_of("#{{2}},k#{{01111111111111111111111111111111111111}}").find("out of range") !=
        std::string::npos);
  CHECK(render("{{ -9223372036854775808 }}") == "-9223372036854775808");
  // Also found by the fuzzer: deep nesting overflowed the stack.
  CHECK(error_of("{{ " + std::string(5000, '(') + "1 }}").find("nested more than") !=
        std::string::npos);
  std::string deep_ifs;
  for (int i = 0; i < 5000; ++i) deep_ifs += "{% if x %}";
  CHECK(error_of(deep_ifs, {{"x", 1}}).find("nested more than") != std::string::npos);
  CHECK(render("{{ ((((1)))) }}{% if not not not x %}y{% endif %}", {{"x", 0}}) == "1y");
}
