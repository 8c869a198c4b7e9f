// ipcontroller: parses the command line, builds the configuration, wires up and runs.
#include <CLI/CLI.hpp>

#include <iostream>

int main(int argc, char** argv) {
  CLI::App app{"ipcontroller (C++ drop-in for IPython Parallel's ipcontroller)", "ipcontroller"};
  app.set_version_flag("--version", IPP_VERSION);
  app.allow_extras();
  CLI11_PARSE(app, argc, argv);
  std::cerr << "ipcontroller: not implemented yet\n";
  return 1;
}
