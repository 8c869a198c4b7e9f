#include "ipp/config/cli_compat.hpp"

#include "ipp/config/error.hpp"
#include "ipp/config/py_literal.hpp"

#include <cctype>
#include <cstdlib>
#include <map>

namespace ipp::config {
namespace {

bool is_identifier(std::string_view s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0])) != 0) return false;
  for (const char c : s) {
    if (std::isalnum(static_cast<unsigned char>(c)) == 0 && c != '_') return false;
  }
  return true;
}

// "Class.trait" (or "A.B.trait"): two or more dotted identifiers.
bool is_config_name(std::string_view name, std::vector<std::string>& parts) {
  parts.clear();
  std::size_t start = 0;
  while (true) {
    const auto dot = name.find('.', start);
    const std::string_view part =
        name.substr(start, dot == std::string_view::npos ? name.npos : dot - start);
    if (!is_identifier(part)) return false;
    parts.emplace_back(part);
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return parts.size() >= 2;
}

// argparse's rule: "-5" is a value, "--foo" and "-n" are options.
bool looks_like_option(const std::string& arg) {
  if (arg.size() < 2 || arg[0] != '-') return false;
  const auto lit = parse_python_literal(arg);
  return !(lit && lit->is_number());
}

}  // namespace

ConfigTree parse_cli_value(std::string_view text) {
  if (auto lit = parse_python_literal(text)) return std::move(*lit);
  // traitlets' Unicode.from_string runs os.path.expanduser on the raw text.
  if (text == "~" || text.substr(0, 2) == "~/") {
    if (const char* home = std::getenv("HOME"); home && *home) {
      return std::string(home) + std::string(text.substr(1));
    }
  }
  return std::string(text);
}

CliConfig extract_cli_config(const std::vector<std::string>& args) {
  CliConfig out;
  // Values per option name, in the order given; the order of first appearance is kept too.
  std::vector<std::pair<std::vector<std::string>, std::vector<ConfigTree>>> options;
  std::map<std::string, std::size_t> index;
  std::vector<std::string> parts;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      out.rest.insert(out.rest.end(), args.begin() + static_cast<std::ptrdiff_t>(i), args.end());
      break;
    }
    if (arg.rfind("--", 0) != 0) {
      out.rest.push_back(arg);
      continue;
    }
    const std::string_view body = std::string_view(arg).substr(2);
    const auto eq = body.find('=');
    const std::string_view name = body.substr(0, eq);
    if (!is_config_name(name, parts)) {
      out.rest.push_back(arg);
      continue;
    }
    std::string text;
    if (eq != std::string_view::npos) {
      text = std::string(body.substr(eq + 1));
    } else if (i + 1 < args.size() && !looks_like_option(args[i + 1])) {
      text = args[++i];
    } else {
      throw ConfigError("command line: argument --" + std::string(name) +
                        ": expected one argument");
    }
    const auto [it, added] = index.emplace(std::string(name), options.size());
    if (added) options.push_back({parts, {}});
    options[it->second].second.push_back(parse_cli_value(text));
  }
  for (const auto& [path, values] : options) {
    ConfigTree value;
    if (values.size() == 1) {
      value = values.front();
    } else {
      // Repetition appends, as traitlets does for list traits; a literal list adds its items.
      value = ConfigTree::array();
      for (const auto& v : values) {
        if (v.is_array()) {
          for (const auto& item : v) value.push_back(item);
        } else {
          value.push_back(v);
        }
      }
    }
    ConfigTree* node = &out.tree;
    for (std::size_t k = 0; k + 1 < path.size(); ++k) {
      ConfigTree& next = (*node)[path[k]];
      if (!next.is_object()) next = ConfigTree::object();
      node = &next;
    }
    (*node)[path.back()] = std::move(value);
  }
  return out;
}

CliConfig extract_cli_config(int argc, const char* const* argv) {
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  return extract_cli_config(args);
}

void apply_cli_config(LoadedConfig& config, const CliConfig& cli) {
  merge(config, cli.tree, "command line");
}

}  // namespace ipp::config
