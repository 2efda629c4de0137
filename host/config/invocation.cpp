#include "config/invocation.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>
#include <set>

#include "config/option_table.hpp"
#include "core/errors.hpp"
#include "core/text.hpp"

namespace vramguard {
namespace {

constexpr std::string_view kEnvPrefix = "VRAMGUARD_";
constexpr std::string_view kStrategySection = "strategy.";
// Options that stop processes or run commands: a person gives them on the command line, never an
// environment variable or a config file that may outlive the moment (fix's consent, monitor's command).
const std::set<std::string> kCommandLineOnly = {"terminate-own", "yes", "on-alert"};

// VRAMGUARD_* variables that are not options: read where they apply, never as --options.
const std::set<std::string> kNonOptionVariables = {"VRAMGUARD_RUNTIME_LIBRARY", "VRAMGUARD_STATE_DIR",
                                                   "VRAMGUARD_FUZZ_SECONDS"};

// Options that are switches on the command line but also accept true/false from the environment
// and config files.
po::typed_value<bool>* switch_value() { return po::bool_switch(); }

std::vector<std::string> long_names(const po::options_description& description) {
  std::vector<std::string> names;
  for (const auto& option : description.options()) names.push_back(option->long_name());
  return names;
}

std::vector<std::string> dashed(const std::vector<std::string>& names) {
  std::vector<std::string> out;
  for (const auto& n : names) out.push_back("--" + n);
  return out;
}

std::string env_to_option(const std::string& variable) {
  std::string name = variable.substr(kEnvPrefix.size());
  for (auto& c : name) c = c == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

const CommandSpec* find_command(const std::vector<CommandSpec>& commands, const std::string& name) {
  for (const auto& command : commands)
    if (command.name == name) return &command;
  return nullptr;
}

std::vector<std::string> command_names(const std::vector<CommandSpec>& commands) {
  std::vector<std::string> names;
  for (const auto& command : commands) names.push_back(command.name);
  return names;
}

// The index of the command word: the first argument that is neither an option nor the value of a
// global option that takes one.
std::optional<std::size_t> command_position(const std::vector<std::string>& args) {
  const po::options_description globals = global_options();
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") return i + 1 < args.size() ? std::optional<std::size_t>(i + 1) : std::nullopt;
    if (!text::starts_with(arg, "-") || arg == "-") return i;
    if (text::starts_with(arg, "--") && arg.find('=') == std::string::npos) {
      const auto* option = globals.find_nothrow(arg.substr(2), false);
      if (option && option->semantic()->max_tokens() > 0 && option->semantic()->min_tokens() > 0) ++i;
    }
  }
  return std::nullopt;
}

constexpr std::uintmax_t kMaxConfigBytes = 1 << 20;

void store_config_file(const std::filesystem::path& file, const po::options_description& all_options,
                       const po::options_description& command_options, Invocation& invocation) {
  // Only a regular file of a config's size: a folder or /dev/zero is a mistake to report, not to read.
  std::error_code ec;
  const auto status = std::filesystem::status(file, ec);
  const std::string hint = "check the path given to --config or VRAMGUARD_CONFIG";
  if (ec) throw InputError(file.string(), "cannot read the config file: " + ec.message(), hint);
  if (!std::filesystem::is_regular_file(status))
    throw InputError(file.string(), "is not a config file (not a regular file)", hint);
  if (std::filesystem::file_size(file, ec) > kMaxConfigBytes)
    throw InputError(file.string(), "is larger than 1 MiB: not a config file", hint);
  // Read with the system's calls, so that a read error is one (/proc/self/mem is "regular" and empty
  // in size, and a stream would report the error as the end of an empty config).
  std::string content;
  {
    const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
      throw InputError(file.string(), std::string("cannot open the config file: ") + std::strerror(errno), hint);
    char buffer[16384];
    for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) != 0;) {
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 || content.size() + static_cast<std::size_t>(n) > kMaxConfigBytes) {
        const std::string why = n < 0 ? std::string("cannot read the config file: ") + std::strerror(errno)
                                      : "is larger than 1 MiB: not a config file";
        ::close(fd);
        throw InputError(file.string(), why, hint);
      }
      content.append(buffer, static_cast<std::size_t>(n));
    }
    ::close(fd);
  }
  // The line of each key outside [strategy.*] sections, for messages about its value.
  std::map<std::string, int> key_lines;
  {
    std::istringstream lines(content);
    bool in_strategy_section = false;
    int number = 0;
    for (std::string line; std::getline(lines, line);) {
      ++number;
      const std::string entry(text::trim(line));
      if (text::starts_with(entry, "["))
        in_strategy_section = text::starts_with(entry, "[" + std::string(kStrategySection));
      const auto eq = entry.find('=');
      if (in_strategy_section || eq == std::string::npos || text::starts_with(entry, "#")) continue;
      std::string key(text::trim(entry.substr(0, eq)));
      for (auto& c : key) c = c == '_' ? '-' : c;
      key_lines.emplace(key, number);
    }
  }
  std::istringstream in(content);
  po::parsed_options parsed(&all_options);
  try {
    parsed = po::parse_config_file(in, all_options, /*allow_unregistered=*/true);
  } catch (const po::error& e) {
    throw InputError(file.string(), std::string("not a valid config file: ") + e.what(),
                     "config files are INI: 'key = value' lines and [strategy.NAME] sections");
  }
  const std::vector<std::string> known = long_names(all_options);
  std::vector<po::option> kept;
  for (auto option : parsed.options) {
    const std::string option_key = option.string_key;
    std::string key = option.string_key;
    const std::string value = option.value.empty() ? std::string{} : option.value.front();
    if (text::starts_with(key, kStrategySection)) {
      // [strategy.balanced] low_zero = true  →  "strategy.balanced.low_zero"
      const std::string rest = key.substr(kStrategySection.size());
      const auto dot = rest.rfind('.');
      if (dot == std::string::npos || dot == 0 || dot + 1 == rest.size())
        throw InputError(file.string(), "'" + key + "' is not inside a [strategy.NAME] section");
      invocation.strategy_options[rest.substr(0, dot)].emplace(rest.substr(dot + 1), value);
      continue;
    }
    for (auto& c : key) c = c == '_' ? '-' : c;  // config keys use underscores, options dashes
    if (key == "plugin-dirs") {
      for (const auto& dir : text::split(value, ':')) {
        if (dir.empty()) continue;
        const std::filesystem::path p(dir);
        invocation.config_plugin_dirs.push_back(p.is_absolute() ? dir : (file.parent_path() / p).string());
      }
      continue;
    }
    if (all_options.find_nothrow(key, false) == nullptr || key == "config") {
      std::vector<std::string> underscored;
      for (auto name : known) {
        for (auto& c : name) c = c == '-' ? '_' : c;
        underscored.push_back(name);
      }
      throw InputError(file.string(),
                       "unknown key '" + option.string_key + "'" + text::did_you_mean(option.string_key, underscored),
                       "see `vramguard help` for the options; every option can be a config key, with '_' for '-'");
    }
    if (command_options.find_nothrow(key, false) == nullptr) continue;  // meant for another command
    if (kCommandLineOnly.count(key))
      throw InputError(file.string(),
                       "sets '" + option.string_key + "', which only the command line may give (--" + key + ")",
                       "remove it from the config and pass --" + key + " when you mean it");
    option.string_key = key;
    option.unregistered = false;
    if (!invocation.values.count(key) || invocation.values[key].defaulted()) {
      const auto line = key_lines.find(key);
      invocation.sources[key] = option_key + " (" + file.string() +
                                (line != key_lines.end() ? ", line " + std::to_string(line->second) : "") + ")";
    }
    kept.push_back(option);
  }
  parsed.options = std::move(kept);
  parsed.description = &command_options;
  try {
    po::store(parsed, invocation.values);
  } catch (const po::error& e) {
    throw InputError(file.string(), e.what());
  }
}

}  // namespace

po::options_description global_options() {
  po::options_description global("Global options");
  // clang-format off
  global.add_options()
      ("help,h", "show help for the command")
      ("version", "print vramguard's version and exit")
      ("log-level", po::value<std::string>()->value_name("LEVEL")->default_value("info"),
          "trace, debug, info, warn, error or off")
      ("quiet,q", switch_value(), "only warnings and errors on stderr (same as --log-level warn)")
      ("json", switch_value(), "print results as JSON on stdout");
  // clang-format on
  declare_options(global, OptionGroup::plugins);
  return global;
}

bool Invocation::flag(const std::string& name) const { return values.count(name) && values[name].as<bool>(); }

std::optional<std::string> Invocation::text(const std::string& name) const {
  if (!values.count(name)) return std::nullopt;
  return values[name].as<std::string>();
}

std::vector<std::string> Invocation::list(const std::string& name) const {
  if (!values.count(name)) return {};
  return values[name].as<std::vector<std::string>>();
}

std::optional<std::uint64_t> Invocation::number(const std::string& name, std::uint64_t min_value,
                                                std::uint64_t max_value) const {
  const auto given = text(name);
  if (!given) return std::nullopt;
  const std::string expected = "an integer from " + std::to_string(min_value) + " to " + std::to_string(max_value);
  const std::string& value = *given;
  std::uint64_t parsed = 0;
  // Digits only: boost would read "-1" as 2^64 - 1, and strtoull skips spaces and signs.
  const bool digits = !value.empty() && value.size() <= 20 && std::all_of(value.begin(), value.end(), ::isdigit);
  const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), parsed);
  if (!digits || error != std::errc() || end != value.data() + value.size() || parsed < min_value || parsed > max_value)
    throw UsageError("--" + name + " '" + value + "' is not " + expected);
  return parsed;
}

// Everything every command understands, so that one config file serves all of them.
po::options_description every_option(const std::vector<CommandSpec>& commands) {
  po::options_description everything;
  everything.add(global_options());
  std::set<std::string> added;
  for (const auto& name : long_names(global_options())) added.insert(name);
  for (const auto& other : commands) {
    CommandOptions declared;
    if (other.declare) other.declare(declared);
    for (const auto& option : declared.options.options())
      if (added.insert(option->long_name()).second) everything.add(option);
  }

  return everything;
}

// What every invocation adds to the options it was given: VRAMGUARD_* variables, then the config
// file (each only where nothing before it set the option), then defaults.
void add_environment_and_config(Invocation& invocation, const po::options_description& options,
                                const po::options_description& everything) {
  const Environment& environment = invocation.environment;
  // Environment: VRAMGUARD_LOG_LEVEL → --log-level. VRAMGUARD_PLUGIN_PATH is a search-path tier of its
  // own, not --plugin-dir.
  // Other tools' variables may share the prefix: an unknown one is a warning, as an unknown config key
  // of another command is ignored, never a reason to refuse every command.
  std::vector<po::option> from_env;
  for (const auto& [variable, value] : environment) {
    if (!text::starts_with(variable, kEnvPrefix)) continue;
    if (variable == "VRAMGUARD_PLUGIN_PATH") {
      invocation.env_plugin_path = value;
      continue;
    }
    // VRAMGUARD_ALERT_*: what `monitor --on-alert` hands its command (which may run vramguard).
    if (kNonOptionVariables.count(variable) || text::starts_with(variable, "VRAMGUARD_ALERT_")) continue;
    const std::string name = env_to_option(variable);
    if (name.empty() || name == "plugin-dir" || name == "help" || name == "version") {
      if (name.empty())
        invocation.warnings.push_back("ignoring the environment variable " + variable + ": it names no option");
      continue;
    }
    if (options.find_nothrow(name, false) == nullptr) {
      if (everything.find_nothrow(name, false) == nullptr) {
        // Compared without the prefix every candidate shares, which would make any two names look alike.
        std::string guess = text::nearest(name, long_names(everything));
        for (auto& c : guess) c = c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        invocation.warnings.push_back(
            "ignoring the environment variable " + variable + ": no option is called --" + name +
            (guess.empty() ? "" : " (did you mean '" + std::string(kEnvPrefix) + guess + "'?)"));
      }
      continue;
    }
    if (kCommandLineOnly.count(name))
      throw UsageError(
          "the environment variable " + variable + " sets --" + name + ", which only the command line may give",
          "unset it and pass --" + name + " when you mean it");
    po::option option(name, {value});
    if (!invocation.values.count(name) || invocation.values[name].defaulted()) invocation.sources[name] = variable;
    from_env.push_back(option);
  }
  try {
    po::parsed_options parsed(&options);
    parsed.options = from_env;
    po::store(parsed, invocation.values);
  } catch (const po::error& e) {
    throw UsageError(std::string("in the environment: ") + e.what());
  }

  if (invocation.values.count("config")) {
    invocation.config_file = invocation.values["config"].as<std::string>();
    store_config_file(*invocation.config_file, everything, options, invocation);
  }
  po::notify(invocation.values);

  invocation.help_requested = invocation.values.count("help") > 0;
  invocation.version_requested = invocation.values.count("version") > 0;
}

Invocation parse_invocation(const std::vector<std::string>& args, const std::vector<CommandSpec>& commands,
                            const Environment& environment) {
  Invocation invocation;
  invocation.environment = environment;
  std::vector<std::string> rest = args;
  const auto position = command_position(args);
  const CommandSpec* command = nullptr;
  if (position) {
    const std::string& word = args[*position];
    command = find_command(commands, word);
    if (!command)
      throw UsageError("unknown command '" + word + "'" + text::did_you_mean(word, command_names(commands)),
                       "commands: " + text::join(command_names(commands), ", ") + "; see `vramguard help`");
    invocation.command = word;
    rest.erase(rest.begin() + static_cast<std::ptrdiff_t>(*position));
  }

  CommandOptions own;
  if (command && command->declare) command->declare(own);
  po::options_description options;
  options.add(global_options()).add(own.options);

  const po::options_description everything = every_option(commands);
  try {
    const po::parsed_options parsed = po::command_line_parser(rest).options(options).positional(own.positional).run();
    po::store(parsed, invocation.values);
    for (const auto& option : parsed.options) invocation.from_command_line.insert(option.string_key);
  } catch (const po::unknown_option& e) {
    std::string name = e.get_option_name();
    throw UsageError("unknown option '" + name + "'" + (command ? " for '" + command->name + "'" : std::string{}) +
                         text::did_you_mean(name, dashed(long_names(options))),
                     "see `vramguard help" + (command ? " " + command->name : std::string{}) + "`");
  } catch (const po::too_many_positional_options_error&) {
    throw UsageError("too many arguments" + (command ? " for '" + command->name + "'" : std::string{}),
                     command ? "usage: " + command->usage : "see `vramguard help`");
  } catch (const po::error& e) {
    throw UsageError(e.what(), "see `vramguard help" + (command ? " " + command->name : std::string{}) + "`");
  }

  add_environment_and_config(invocation, options, everything);
  return invocation;
}

Invocation invocation_from_settings(const CommandSpec& command,
                                    const std::vector<std::pair<std::string, std::string>>& settings,
                                    const Environment& environment, const std::vector<CommandSpec>& commands) {
  Invocation invocation;
  invocation.environment = environment;
  invocation.command = command.name;
  CommandOptions own;
  if (command.declare) command.declare(own);
  po::options_description options;
  options.add(global_options()).add(own.options);
  std::vector<po::option> given;
  for (const auto& [name, value] : settings) {
    // Python's keywords use '_' where options use '-'.
    std::string key = name;
    std::replace(key.begin(), key.end(), '_', '-');
    if (options.find_nothrow(key, false) == nullptr || key == "help" || key == "version")
      throw UsageError("unknown setting '" + name + "'" + text::did_you_mean(key, long_names(options)),
                       "settings are `vramguard " + command.name + "` options by name, e.g. {\"max-attempts\": \"2\"}");
    given.push_back(po::option(key, {value}));
  }
  try {
    po::parsed_options parsed(&options);
    parsed.options = given;
    po::store(parsed, invocation.values);
  } catch (const po::error& e) {
    throw UsageError(e.what(), "see `vramguard help " + command.name + "`");
  }
  add_environment_and_config(invocation, options,
                             every_option(commands.empty() ? std::vector<CommandSpec>{command} : commands));
  return invocation;
}

}  // namespace vramguard
