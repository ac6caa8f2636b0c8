#include "template_renderer.hpp"

#include <cctype>
#include <charconv>
#include <memory>
#include <vector>

#include <fmt/format.h>

#include "errors.hpp"

namespace kjit {
namespace {

using nlohmann::json;

// ---- expressions ----------------------------------------------------------------------------

struct Expr {
  enum class Kind { kVariable, kLiteral, kNot, kAnd, kOr, kEqual, kNotEqual };
  Kind kind = Kind::kLiteral;
  std::string name;  // dotted path, for kVariable
  json literal;      // for kLiteral
  std::vector<Expr> operands;
};

struct Token {
  enum class Kind { kName, kString, kInteger, kOperator, kEnd };
  Kind kind = Kind::kEnd;
  std::string text;
  std::size_t offset = 0;  // in the template
};

// Everything that needs to report a location shares this.
struct Source {
  std::string_view name;
  std::string_view text;

  [[noreturn]] void fail(std::size_t offset, std::string_view what) const {
    std::size_t line = 1, column = 1;
    for (std::size_t i = 0; i < offset && i < text.size(); ++i) {
      if (text[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    throw TemplateError(
        fmt::format("template '{}', line {}, column {}: {}", name, line, column, what));
  }
};

std::vector<Token> tokenize(const Source& source, std::string_view code, std::size_t base) {
  std::vector<Token> tokens;
  std::size_t i = 0;
  while (i < code.size()) {
    const char c = code[i];
    const std::size_t at = base + i;
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
    } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      std::size_t end = i;
      while (end < code.size() && (std::isalnum(static_cast<unsigned char>(code[end])) ||
                                   code[end] == '_' || code[end] == '.')) {
        ++end;
      }
      tokens.push_back({Token::Kind::kName, std::string(code.substr(i, end - i)), at});
      i = end;
    } else if (std::isdigit(static_cast<unsigned char>(c)) ||
               (c == '-' && i + 1 < code.size() &&
                std::isdigit(static_cast<unsigned char>(code[i + 1])))) {
      std::size_t end = i + 1;
      while (end < code.size() && std::isdigit(static_cast<unsigned char>(code[end]))) ++end;
      tokens.push_back({Token::Kind::kInteger, std::string(code.substr(i, end - i)), at});
      i = end;
    } else if (c == '"' || c == '\'') {
      const std::size_t close = code.find(c, i + 1);
      if (close == std::string_view::npos) source.fail(at, "unterminated string literal");
      tokens.push_back({Token::Kind::kString, std::string(code.substr(i + 1, close - i - 1)), at});
      i = close + 1;
    } else if ((c == '=' || c == '!') && i + 1 < code.size() && code[i + 1] == '=') {
      tokens.push_back({Token::Kind::kOperator, std::string(code.substr(i, 2)), at});
      i += 2;
    } else if (c == '(' || c == ')') {
      tokens.push_back({Token::Kind::kOperator, std::string(1, c), at});
      ++i;
    } else {
      source.fail(at, fmt::format("unexpected character '{}' in expression", c));
    }
  }
  tokens.push_back({Token::Kind::kEnd, "", base + code.size()});
  return tokens;
}

// Nesting beyond this is an error, not a stack overflow (templates nest a few levels).
constexpr int kMaxNesting = 64;

// Recursive descent: or > and > not > comparison > primary.
class ExprParser {
 public:
  ExprParser(const Source& source, std::vector<Token> tokens)
      : source_(source), tokens_(std::move(tokens)) {}

  Expr parse_all() {
    Expr expr = parse_or();
    if (peek().kind != Token::Kind::kEnd) {
      source_.fail(peek().offset, fmt::format("unexpected '{}' after expression", peek().text));
    }
    return expr;
  }

 private:
  const Token& peek() const { return tokens_[position_]; }
  bool accept_name(std::string_view word) {
    if (peek().kind == Token::Kind::kName && peek().text == word) {
      ++position_;
      return true;
    }
    return false;
  }
  bool accept_operator(std::string_view op) {
    if (peek().kind == Token::Kind::kOperator && peek().text == op) {
      ++position_;
      return true;
    }
    return false;
  }

  Expr parse_or() {
    Expr left = parse_and();
    while (accept_name("or")) left = Expr{Expr::Kind::kOr, "", {}, {left, parse_and()}};
    return left;
  }
  Expr parse_and() {
    Expr left = parse_not();
    while (accept_name("and")) left = Expr{Expr::Kind::kAnd, "", {}, {left, parse_not()}};
    return left;
  }
  Expr parse_not() {
    if (accept_name("not")) {
      Deeper guard(*this);
      return Expr{Expr::Kind::kNot, "", {}, {parse_not()}};
    }
    return parse_comparison();
  }
  Expr parse_comparison() {
    Expr left = parse_primary();
    if (accept_operator("==")) return Expr{Expr::Kind::kEqual, "", {}, {left, parse_primary()}};
    if (accept_operator("!=")) return Expr{Expr::Kind::kNotEqual, "", {}, {left, parse_primary()}};
    return left;
  }
  Expr parse_primary() {
    const Token token = peek();
    switch (token.kind) {
      case Token::Kind::kEnd:
        source_.fail(token.offset, "expected an expression");
      case Token::Kind::kString:
        ++position_;
        return Expr{Expr::Kind::kLiteral, "", token.text, {}};
      case Token::Kind::kInteger: {
        ++position_;
        long long value = 0;
        const auto [end, error] =
            std::from_chars(token.text.data(), token.text.data() + token.text.size(), value);
        if (error != std::errc() || end != token.text.data() + token.text.size()) {
          source_.fail(token.offset, fmt::format("integer literal {} is out of range", token.text));
        }
        return Expr{Expr::Kind::kLiteral, "", value, {}};
      }
      case Token::Kind::kOperator:
        if (accept_operator("(")) {
          Deeper guard(*this);
          Expr inner = parse_or();
          if (!accept_operator(")")) source_.fail(peek().offset, "expected ')'");
          return inner;
        }
        source_.fail(token.offset, fmt::format("unexpected '{}' in expression", token.text));
      case Token::Kind::kName:
        ++position_;
        if (token.text == "true") return Expr{Expr::Kind::kLiteral, "", true, {}};
        if (token.text == "false") return Expr{Expr::Kind::kLiteral, "", false, {}};
        if (token.text == "and" || token.text == "or" || token.text == "not") {
          source_.fail(token.offset, fmt::format("expected an operand before '{}'", token.text));
        }
        return Expr{Expr::Kind::kVariable, token.text, {}, {}};
    }
    source_.fail(token.offset, "malformed expression");
  }

  // Counts one level of nesting for its scope; too many levels is a TemplateError.
  struct Deeper {
    explicit Deeper(ExprParser& parser) : parser_(parser) {
      if (++parser_.depth_ > kMaxNesting) {
        parser_.source_.fail(parser_.peek().offset,
                             fmt::format("expression nested more than {} levels", kMaxNesting));
      }
    }
    ~Deeper() { --parser_.depth_; }
    ExprParser& parser_;
  };

  const Source& source_;
  std::vector<Token> tokens_;
  std::size_t position_ = 0;
  int depth_ = 0;
};

// ---- template structure ---------------------------------------------------------------------

struct Node;
using Body = std::vector<Node>;

struct Branch {
  Expr condition;
  Body body;
};

struct Node {
  enum class Kind { kText, kOutput, kIf, kFor };
  Kind kind = Kind::kText;
  std::size_t offset = 0;
  std::string text;                 // kText
  Expr expr;                        // kOutput; the list of kFor
  std::vector<Branch> branches;     // kIf: if and elif branches
  std::unique_ptr<Body> else_body;  // kIf (may be null)
  std::string loop_variable;        // kFor
  Body body;                        // kFor
};

class TemplateParser {
 public:
  explicit TemplateParser(const Source& source) : source_(source) {}

  Body parse() {
    Body root;
    std::string_view terminator;
    parse_body(root, {}, &terminator);
    return root;
  }

 private:
  struct Tag {
    std::string keyword;
    std::string_view rest;
    std::size_t offset = 0;       // of "{%"
    std::size_t rest_offset = 0;  // of `rest` in the template
  };

  // Parses nodes until a statement whose keyword is in `stops` (returned in *stopped_at) or the
  // end of the template (allowed only at the top level, where `stops` is empty).
  Tag parse_body(Body& body, std::initializer_list<std::string_view> stops,
                 std::string_view* stopped_at) {
    const std::string_view text = source_.text;
    while (position_ < text.size()) {
      const std::size_t open = find_tag(position_);
      emit_text(body, position_, open);
      if (open == std::string_view::npos) {
        position_ = text.size();
        break;
      }
      const char kind = text[open + 1];
      const std::string_view closer = kind == '{' ? "}}" : kind == '%' ? "%}" : "#}";
      const std::size_t close = text.find(closer, open + 2);
      if (close == std::string_view::npos) {
        source_.fail(open,
                     fmt::format("unterminated tag: '{{{}' has no matching '{}'", kind, closer));
      }
      const std::size_t inner_begin = open + 2;
      const std::string_view inner = text.substr(inner_begin, close - inner_begin);
      position_ = close + 2;
      if (kind == '#') {
        trim_newline_after_tag();
        continue;
      }
      if (kind == '{') {
        Node node;
        node.kind = Node::Kind::kOutput;
        node.offset = open;
        node.expr = ExprParser(source_, tokenize(source_, inner, inner_begin)).parse_all();
        body.push_back(std::move(node));
        continue;
      }
      trim_newline_after_tag();
      Tag tag = split_tag(inner, open, inner_begin);
      for (std::string_view stop : stops) {
        if (tag.keyword == stop) {
          *stopped_at = stop;
          return tag;
        }
      }
      if (tag.keyword == "if") {
        body.push_back(parse_if(tag));
      } else if (tag.keyword == "for") {
        body.push_back(parse_for(tag));
      } else if (tag.keyword == "elif" || tag.keyword == "else" || tag.keyword == "endif" ||
                 tag.keyword == "endfor") {
        source_.fail(tag.offset,
                     fmt::format("'{{% {} %}}' without a matching opening tag", tag.keyword));
      } else {
        source_.fail(tag.offset,
                     fmt::format("unknown statement '{}': supported are if, elif, else, endif, "
                                 "for, endfor",
                                 tag.keyword));
      }
    }
    if (stops.size() != 0) {
      source_.fail(opened_at_.back(),
                   fmt::format("'{{% {} %}}' is never closed", opened_kind_.back()));
    }
    return {};
  }

  void check_depth(const Tag& tag) const {
    if (static_cast<int>(opened_at_.size()) >= kMaxNesting) {
      source_.fail(tag.offset, fmt::format("blocks nested more than {} levels", kMaxNesting));
    }
  }

  Node parse_if(const Tag& tag) {
    check_depth(tag);
    Node node;
    node.kind = Node::Kind::kIf;
    node.offset = tag.offset;
    opened_at_.push_back(tag.offset);
    opened_kind_.push_back("if");
    Tag current = tag;
    while (true) {
      Branch branch{parse_condition(current), {}};
      std::string_view stopped;
      Tag next = parse_body(branch.body, {"elif", "else", "endif"}, &stopped);
      node.branches.push_back(std::move(branch));
      if (stopped == "elif") {
        current = next;
        continue;
      }
      if (stopped == "else") {
        require_empty(next);
        node.else_body = std::make_unique<Body>();
        Tag end = parse_body(*node.else_body, {"endif"}, &stopped);
        require_empty(end);
      } else {
        require_empty(next);
      }
      break;
    }
    opened_at_.pop_back();
    opened_kind_.pop_back();
    return node;
  }

  Node parse_for(const Tag& tag) {
    check_depth(tag);
    // "x in list"
    std::vector<Token> tokens = tokenize(source_, tag.rest, tag.rest_offset);
    if (tokens.size() < 4 || tokens[0].kind != Token::Kind::kName || tokens[1].text != "in" ||
        tokens[0].text.find('.') != std::string::npos) {
      source_.fail(tag.offset, "malformed for: expected '{% for name in list %}'");
    }
    Node node;
    node.kind = Node::Kind::kFor;
    node.offset = tag.offset;
    node.loop_variable = tokens[0].text;
    node.expr = ExprParser(source_, {tokens.begin() + 2, tokens.end()}).parse_all();
    opened_at_.push_back(tag.offset);
    opened_kind_.push_back("for");
    std::string_view stopped;
    Tag end = parse_body(node.body, {"endfor"}, &stopped);
    require_empty(end);
    opened_at_.pop_back();
    opened_kind_.pop_back();
    return node;
  }

  Expr parse_condition(const Tag& tag) {
    return ExprParser(source_, tokenize(source_, tag.rest, tag.rest_offset)).parse_all();
  }

  void require_empty(const Tag& tag) const {
    for (char c : tag.rest) {
      if (!std::isspace(static_cast<unsigned char>(c))) {
        source_.fail(tag.offset, fmt::format("'{{% {} %}}' takes no arguments", tag.keyword));
      }
    }
  }

  Tag split_tag(std::string_view inner, std::size_t open, std::size_t inner_begin) const {
    std::size_t begin = 0;
    while (begin < inner.size() && std::isspace(static_cast<unsigned char>(inner[begin]))) ++begin;
    std::size_t end = begin;
    while (end < inner.size() && std::isalpha(static_cast<unsigned char>(inner[end]))) ++end;
    if (end == begin) source_.fail(open, "empty or malformed statement tag");
    return {std::string(inner.substr(begin, end - begin)), inner.substr(end), open,
            inner_begin + end};
  }

  std::size_t find_tag(std::size_t from) const {
    const std::string_view text = source_.text;
    for (std::size_t i = text.find('{', from); i != std::string_view::npos;
         i = text.find('{', i + 1)) {
      if (i + 1 < text.size() && (text[i + 1] == '{' || text[i + 1] == '%' || text[i + 1] == '#')) {
        return i;
      }
    }
    return std::string_view::npos;
  }

  // Text up to a tag; if the tag is a statement or comment preceded on its line only by blanks,
  // those blanks are dropped (lstrip_blocks).
  void emit_text(Body& body, std::size_t begin, std::size_t tag) {
    const std::string_view text = source_.text;
    std::size_t end = tag == std::string_view::npos ? text.size() : tag;
    if (tag != std::string_view::npos && text[tag + 1] != '{') {
      std::size_t line_start = tag;
      while (line_start > begin && (text[line_start - 1] == ' ' || text[line_start - 1] == '\t')) {
        --line_start;
      }
      if (line_start == 0 || text[line_start - 1] == '\n') end = line_start;
    }
    if (end > begin)
      body.push_back(Node{Node::Kind::kText,
                          begin,
                          std::string(text.substr(begin, end - begin)),
                          {},
                          {},
                          {},
                          {},
                          {}});
  }

  // trim_blocks: the newline right after a statement or comment tag belongs to the tag.
  void trim_newline_after_tag() {
    if (position_ < source_.text.size() && source_.text[position_] == '\n') ++position_;
  }

  const Source& source_;
  std::size_t position_ = 0;
  std::vector<std::size_t> opened_at_;
  std::vector<std::string> opened_kind_;
};

// ---- evaluation -----------------------------------------------------------------------------

class Renderer {
 public:
  Renderer(const Source& source, const json& context) : source_(source), context_(context) {}

  void render(const Body& body, std::string& out) {
    for (const Node& node : body) render(node, out);
  }

 private:
  void render(const Node& node, std::string& out) {
    switch (node.kind) {
      case Node::Kind::kText:
        out += node.text;
        return;
      case Node::Kind::kOutput:
        out += to_text(evaluate(node.expr, node.offset), node.offset);
        return;
      case Node::Kind::kIf:
        for (const Branch& branch : node.branches) {
          if (truthy(evaluate(branch.condition, node.offset))) {
            render(branch.body, out);
            return;
          }
        }
        if (node.else_body) render(*node.else_body, out);
        return;
      case Node::Kind::kFor: {
        const json list = evaluate(node.expr, node.offset);
        if (!list.is_array()) {
          source_.fail(node.offset,
                       fmt::format("for loop over a {} value; expected a list", list.type_name()));
        }
        for (std::size_t i = 0; i < list.size(); ++i) {
          json scope = {
              {node.loop_variable, list[i]},
              {"loop", {{"index0", i}, {"index", i + 1}, {"last", i + 1 == list.size()}}}};
          scopes_.push_back(std::move(scope));
          render(node.body, out);
          scopes_.pop_back();
        }
        return;
      }
    }
  }

  json evaluate(const Expr& expr, std::size_t offset) const {
    switch (expr.kind) {
      case Expr::Kind::kLiteral:
        return expr.literal;
      case Expr::Kind::kVariable:
        return lookup(expr.name, offset);
      case Expr::Kind::kNot:
        return !truthy(evaluate(expr.operands[0], offset));
      case Expr::Kind::kAnd:
        return truthy(evaluate(expr.operands[0], offset)) &&
               truthy(evaluate(expr.operands[1], offset));
      case Expr::Kind::kOr:
        return truthy(evaluate(expr.operands[0], offset)) ||
               truthy(evaluate(expr.operands[1], offset));
      case Expr::Kind::kEqual:
        return evaluate(expr.operands[0], offset) == evaluate(expr.operands[1], offset);
      case Expr::Kind::kNotEqual:
        return evaluate(expr.operands[0], offset) != evaluate(expr.operands[1], offset);
    }
    return nullptr;
  }

  json lookup(const std::string& dotted, std::size_t offset) const {
    const std::size_t dot = dotted.find('.');
    const std::string head = dotted.substr(0, dot);
    const json* value = nullptr;
    for (auto scope = scopes_.rbegin(); scope != scopes_.rend() && value == nullptr; ++scope) {
      if (scope->contains(head)) value = &(*scope)[head];
    }
    if (value == nullptr && context_.is_object() && context_.contains(head))
      value = &context_[head];
    if (value == nullptr) source_.fail(offset, fmt::format("undefined variable '{}'", head));
    std::size_t start = dot;
    while (start != std::string::npos) {
      const std::size_t next = dotted.find('.', start + 1);
      const std::string member =
          dotted.substr(start + 1, next == std::string::npos ? next : next - start - 1);
      if (!value->is_object() || !value->contains(member)) {
        source_.fail(offset, fmt::format("undefined variable '{}'", dotted.substr(0, next)));
      }
      value = &(*value)[member];
      start = next;
    }
    return *value;
  }

  static bool truthy(const json& value) {
    if (value.is_boolean()) return value.get<bool>();
    if (value.is_number()) return value.get<double>() != 0.0;
    if (value.is_string() || value.is_array() || value.is_object()) return !value.empty();
    return false;
  }

  std::string to_text(const json& value, std::size_t offset) const {
    if (value.is_string()) return value.get<std::string>();
    if (value.is_boolean()) return value.get<bool>() ? "true" : "false";  // C++ spelling
    if (value.is_null()) source_.fail(offset, "cannot print a null value");
    return value.dump();
  }

  const Source& source_;
  const json& context_;
  std::vector<json> scopes_;
};

}  // namespace

std::string render_template(std::string_view template_name, std::string_view text,
                            const nlohmann::json& context) {
  const Source source{template_name, text};
  const Body body = TemplateParser(source).parse();
  std::string out;
  out.reserve(text.size());
  Renderer(source, context).render(body, out);
  return out;
}

}  // namespace kjit
