#pragma once
// Rendering batch-script templates the way Python's batch launchers do: str.format with IPython's
// EvalFormatter, where a replacement field is a small expression over the namespace ({n},
// {n//4}, {queue}, {'x' + queue}), with `{{`/`}}` escapes, `!s`/`!r` conversions and the common
// format specs (width, fill, alignment, `d`, `s`). Expressions are evaluated here, not by
// Python: names, int/float/string literals, + - * / // % and parentheses.
//
// Pure functions; a template that Python would reject (unknown name, single `}`, bad syntax)
// throws TemplateError naming the field.
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace ipp::cluster {

class TemplateError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A value in the template namespace: Python int, float or str.
using TemplateValue = std::variant<long long, double, std::string>;
using TemplateNamespace = std::map<std::string, TemplateValue>;

std::string render_template(std::string_view tmpl, const TemplateNamespace& ns);

// Python's str() of a value (floats in repr form: 2.0, 0.5).
std::string template_str(const TemplateValue& v);

// shlex.quote / shlex.join.
std::string shlex_quote(const std::string& s);
std::string shlex_join(const std::vector<std::string>& argv);

}  // namespace ipp::cluster
