#pragma once
// A CLI command: its spec (name, usage, options) and what it does.
#include <functional>
#include <iosfwd>
#include <vector>

#include "config/invocation.hpp"

namespace vramguard {

struct CommandIO {
  std::ostream& out;  // results: tables or JSON
  std::ostream& err;  // diagnostics beyond the log
};

struct Command {
  CommandSpec spec;
  std::function<int(const Invocation&, CommandIO&)> run;
};

// Every command, in the order `vramguard help` lists them.
const std::vector<Command>& all_commands();

Command plugins_command();
Command inspect_command();
Command synth_command();
Command plan_command();
Command compare_command();
Command load_command();
Command run_command();
Command edit_command();
Command serve_command();
Command doctor_command();
Command fix_command();
Command monitor_command();
Command help_command();

// Runs the CLI on the given arguments (without the program name); returns the exit code.
int run_cli(const std::vector<std::string>& args, CommandIO io, const Environment& environment);

std::string version_text();

}  // namespace vramguard
