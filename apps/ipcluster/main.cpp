// ipcluster: parses the command line, builds the configuration, wires up and runs.
#include <CLI/CLI.hpp>

#include <iostream>

int main(int argc, char** argv) {
  CLI::App app{"ipcluster (C++ drop-in for IPython Parallel's ipcluster)", "ipcluster"};
  app.set_version_flag("--version", IPP_VERSION);
  app.allow_extras();
  CLI11_PARSE(app, argc, argv);
  std::cerr << "ipcluster: not implemented yet\n";
  return 1;
}
