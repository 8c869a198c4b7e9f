// ipengine: parses the command line, builds the configuration, wires up and runs.
#include <CLI/CLI.hpp>

#include <iostream>

int main(int argc, char** argv) {
  CLI::App app{"ipengine (C++ drop-in for IPython Parallel's ipengine)", "ipengine"};
  app.set_version_flag("--version", IPP_VERSION);
  app.allow_extras();
  CLI11_PARSE(app, argc, argv);
  std::cerr << "ipengine: not implemented yet\n";
  return 1;
}
