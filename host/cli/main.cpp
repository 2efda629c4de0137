#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "cli/command.hpp"
#include "plugins/plugin_registry.hpp"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  vramguard::CommandIO io{std::cout, std::cerr};
  const int code = vramguard::run_cli(args, io, vramguard::process_environment());
  if (vramguard::abandoned_plugin_calls() > 0) {
    // A plugin interrupted mid-plan still runs on its own thread: end without running static
    // destructors under it (the report was written, the output is flushed here).
    std::cout.flush();
    std::cerr.flush();
    std::fflush(nullptr);
    std::_Exit(code);
  }
  return code;
}
