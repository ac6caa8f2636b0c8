// A Jinja subset, enough for kernel configs:
//   {{ name }} / {{ a.b }}                     value of a context variable
//   {% if e %} {% elif e %} {% else %} {% endif %}
//   {% for x in list %} ... {% endfor %}       inside: loop.index0, loop.index, loop.last
//   {# comment #}
// Expressions: names, "strings", 'strings', integers, true/false, ==, !=, not, and, or, (...).
// Statement and comment tags alone on a line take the whole line with them (Jinja's trim_blocks
// plus lstrip_blocks), so templates stay readable without leaving blank lines in the output.
// Undefined variables and malformed tags throw TemplateError naming template, line and column.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace kjit {

std::string render_template(std::string_view template_name, std::string_view text,
                            const nlohmann::json& context);

}  // namespace kjit
