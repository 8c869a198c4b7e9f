#pragma once
// ConfigError: a start-up or configuration problem. Its message names the file and key (or the
// command-line option) at fault; apps catch it once in main(), print it as one line and exit 1.
#include <stdexcept>
#include <string>

namespace ipp::config {

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace ipp::config
