#pragma once
// One invocation of the CLI, resolved: the command, its arguments and every option, each taken from
// the first source that gives it — command line > VRAMGUARD_* environment > config file > defaults.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "core/environment.hpp"
#include "vramguard/strategy_options.hpp"

namespace vramguard {

namespace po = boost::program_options;

// What a command adds to the global options: its own options and positional arguments.
struct CommandOptions {
  po::options_description options{"Command options"};
  po::positional_options_description positional;
};

struct CommandSpec {
  std::string name;
  std::string summary;  // one line, for `vramguard help`
  std::string usage;    // "vramguard inspect MODEL [options]"
  std::string details;  // a paragraph after the usage, may be empty
  std::function<void(CommandOptions&)> declare;
  // What help adds that only the running program knows (the families the runtime library runs), asked
  // for when help is printed; may be empty.
  std::function<std::string()> more_help = {};
};

struct Invocation {
  std::string command;  // empty: none given
  po::variables_map values;
  std::optional<std::filesystem::path> config_file;
  std::vector<std::string> config_plugin_dirs;              // from the config, resolved beside it
  std::map<std::string, StrategyOptions> strategy_options;  // [strategy.NAME] sections, then --option
  std::optional<std::string> env_plugin_path;               // VRAMGUARD_PLUGIN_PATH
  Environment environment;                                  // as given, for HF_HOME and the like
  std::vector<std::string> warnings;                        // unknown VRAMGUARD_* variables and the like
  std::set<std::string> from_command_line;                  // the options the command line itself gave
  // Where each option given outside the command line came from, as an error names it:
  // "VRAMGUARD_RESERVE", "reserve (configs/rtx4080-16gb.ini, line 12)". Absent: "--reserve".
  std::map<std::string, std::string> sources;
  bool help_requested = false;
  bool version_requested = false;

  bool flag(const std::string& name) const;
  std::optional<std::string> text(const std::string& name) const;
  std::vector<std::string> list(const std::string& name) const;
  // An integer option, checked: digits only, within [min, max]. UsageError naming the value otherwise.
  std::optional<std::uint64_t> number(const std::string& name, std::uint64_t min_value, std::uint64_t max_value) const;
};

po::options_description global_options();

// Throws UsageError for anything it cannot understand, naming it and the nearest valid word.
Invocation parse_invocation(const std::vector<std::string>& args, const std::vector<CommandSpec>& commands,
                            const Environment& environment);

// The same for options given by name rather than on a command line (the runtime API's Options and
// settings): `settings` as (option, value) pairs, '_' accepted for '-'; then VRAMGUARD_* variables and
// the config file, as for a command line. UsageError naming a setting no option has. `commands`: those
// whose options a config file may hold (default: `command`'s alone).
Invocation invocation_from_settings(const CommandSpec& command,
                                    const std::vector<std::pair<std::string, std::string>>& settings,
                                    const Environment& environment, const std::vector<CommandSpec>& commands = {});

}  // namespace vramguard
