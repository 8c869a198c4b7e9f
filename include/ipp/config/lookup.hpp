#pragma once
// Typed reads from a ConfigTree, with traitlets' inheritance of config between classes.
//
// get<T>(tree, "HeartMonitor", "period") is nullopt when the trait is not set, the value when it
// has the right type, and a ConfigError ("<origin>: c.HeartMonitor.period must be an int, got
// 'abc'") otherwise. The class-list form takes classes in priority order, most derived first:
// traitlets applies config for a base class to its subclasses, with the subclass winning, so
// LocalControllerLauncher reads {"LocalControllerLauncher", "ControllerLauncher", "BaseLauncher"}.
//
// Supported T: bool, int, std::int64_t, double, std::string, std::vector<std::string>,
// std::vector<int>, std::map<std::string, std::string>, ConfigTree (any value).
// Conversions follow what traitlets accepts from config files and the command line:
//   bool   <- true/false, 0/1, and the strings "true"/"false"/"1"/"0" (any case)
//   int    <- integers only (a float or a string is an error)
//   double <- any number
//   string <- a string, or a number or bool printed as Python's str() (for `--X.id=123`)
//   list   <- an array, or a single scalar as a one-item list (one `--X.args=--foo` option)
//   map    <- an object, or "key=value" strings (repeated `--X.env K=V` options)
#include "ipp/config/config_file.hpp"
#include "ipp/config/tree.hpp"

#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ipp::config {

// `origin` names the source in errors (a file path, "command line"); empty means "config".
template <class T>
std::optional<T> get(const ConfigTree& tree, std::string_view cls, std::string_view trait,
                     std::string_view origin = {});
template <class T>
std::optional<T> get(const ConfigTree& tree, std::initializer_list<std::string_view> classes,
                     std::string_view trait, std::string_view origin = {});
template <class T>
std::optional<T> get(const ConfigTree& tree, const std::vector<std::string>& classes,
                     std::string_view trait, std::string_view origin = {});

// The same, naming the file (or "command line") recorded in `config.origins` in errors.
template <class T>
std::optional<T> get(const LoadedConfig& config, std::string_view cls, std::string_view trait);
template <class T>
std::optional<T> get(const LoadedConfig& config, std::initializer_list<std::string_view> classes,
                     std::string_view trait);

// get() with a default for an unset trait.
template <class T>
T get_or(const LoadedConfig& config, std::initializer_list<std::string_view> classes,
         std::string_view trait, T fallback) {
  auto v = get<T>(config, classes, trait);
  return v ? std::move(*v) : std::move(fallback);
}

}  // namespace ipp::config
