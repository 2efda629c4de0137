#include <iostream>

#include "cli/command.hpp"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  vramguard::CommandIO io{std::cout, std::cerr};
  return vramguard::run_cli(args, io, vramguard::process_environment());
}
