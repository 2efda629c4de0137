#include "cli/command.hpp"

namespace vramguard {

const std::vector<Command>& all_commands() {
  static const std::vector<Command> commands = {
      plugins_command(),
      help_command(),
  };
  return commands;
}

}  // namespace vramguard
