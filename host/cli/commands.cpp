#include "cli/command.hpp"

namespace vramguard {

const std::vector<Command>& all_commands() {
  static const std::vector<Command> commands = {
      inspect_command(), synth_command(),   plan_command(),  compare_command(), load_command(),
      run_command(),     edit_command(),    serve_command(), doctor_command(),  fix_command(),
      monitor_command(), plugins_command(), help_command(),
  };
  return commands;
}

}  // namespace vramguard
