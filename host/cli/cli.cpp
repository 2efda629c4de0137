#include <iostream>
#include <sstream>

#include "cli/command.hpp"
#include "engine/request_setup.hpp"
#include "request/cli_options.hpp"
#include "guard/guard_pipeline.hpp"
#include "core/errors.hpp"
#include "core/text.hpp"
#include "core/stop_signal.hpp"
#include "logging/log.hpp"
#include "vramguard/plugin_api.hpp"

namespace vramguard {
namespace {

std::vector<CommandSpec> specs() {
  std::vector<CommandSpec> out;
  for (const auto& command : all_commands()) out.push_back(command.spec);
  return out;
}

void print_overview(std::ostream& out) {
  out << "vramguard — load large PyTorch models onto GPUs too small for them, without running out of memory.\n\n"
         "Usage: vramguard <command> [options]\n\nCommands:\n";
  for (const auto& command : all_commands())
    out << "  " << command.spec.name << std::string(10 - std::min<std::size_t>(9, command.spec.name.size()), ' ')
        << command.spec.summary << "\n";
  out << "\n"
      << global_options() << "\n"
      << "Options come from, first to last: the command line, VRAMGUARD_* environment variables "
         "(VRAMGUARD_LOG_LEVEL=debug), the --config file (log_level = debug), the defaults.\n"
         "Exit codes: 0 ok, 1 the job failed, 2 bad usage or input.\n"
         "`vramguard help <command>` shows a command's options.\n";
}

}  // namespace

void print_command_help(const CommandSpec& spec, std::ostream& out, const Invocation& invocation) {
  out << "Usage: " << spec.usage << "\n\n" << spec.summary << "\n";
  if (!spec.details.empty()) out << "\n" << spec.details << "\n";
  if (spec.more_help) out << "\n" << spec.more_help();
  CommandOptions own;
  if (spec.declare) spec.declare(own);
  if (!own.options.options().empty()) out << "\n" << own.options;
  // A command that takes --option lists what each plugin found here declares it reads.
  if (own.options.find_nothrow("option", false) != nullptr) {
    const PluginRegistry registry = discover_plugins(plugin_search_from(invocation));
    out << "\nStrategy options (--option KEY=VALUE for the strategy used, NAME.KEY=VALUE for one of several, or a\n"
           "config's [strategy.NAME] section), as the plugins found declare them:\n";
    for (const auto& plugin : registry.plugins()) {
      out << "  " << plugin.name << (plugin.options.empty() ? ": none" : "") << "\n";
      for (const auto& o : plugin.options) out << "    " << o.key << "=" << o.values << "  " << o.description << "\n";
    }
  }
  out << "\n" << global_options();
}

std::string version_text() {
  std::ostringstream out;
  out << "vramguard " << VRAMGUARD_VERSION << " (plugin API " << kPluginApiVersion << ", libtorch "
      << VRAMGUARD_TORCH_MAJOR << "." << VRAMGUARD_TORCH_MINOR << (VRAMGUARD_HAS_CUDA ? ", CUDA" : ", CPU only") << ")";
  return out.str();
}

Command help_command() {
  CommandSpec spec{
      "help", "show the commands, or one command's options", "vramguard help [COMMAND]", "", [](CommandOptions& own) {
        // clang-format off
        own.options.add_options()
            ("topic", po::value<std::string>()->value_name("COMMAND"), "the command to explain");
        // clang-format on
        own.positional.add("topic", 1);
      }};
  return {spec, [](const Invocation& invocation, CommandIO& io) {
            const auto topic = invocation.text("topic");
            if (!topic) {
              print_overview(io.out);
              return 0;
            }
            for (const auto& command : all_commands()) {
              if (command.spec.name == *topic) {
                print_command_help(command.spec, io.out, invocation);
                return 0;
              }
            }
            throw UsageError("no command '" + *topic + "'" + text::did_you_mean(*topic, [] {
                               std::vector<std::string> names;
                               for (const auto& c : all_commands()) names.push_back(c.spec.name);
                               return names;
                             }()));
          }};
}

int run_cli(const std::vector<std::string>& args, CommandIO io, const Environment& environment) {
  try {
    if (args.empty()) {
      print_overview(io.err);
      return static_cast<int>(ExitCode::bad_input);
    }
    const Invocation invocation = parse_invocation(args, specs(), environment);
    const std::string level_name = invocation.text("log-level").value_or("info");
    auto level = log::level_from_name(level_name);
    if (!level)
      throw UsageError("unknown log level '" + level_name + "'", "use one of: " + std::string(log::kLevelNames));
    if (invocation.flag("quiet") && *level < log::Level::warn) level = log::Level::warn;
    log::set_level(*level);
    for (const auto& warning : invocation.warnings) log::warn(warning);
    // Ctrl-C and SIGTERM: every stage of every command stops cleanly and still reports.
    const StopSignals signals;

    if (invocation.version_requested) {
      io.out << version_text() << "\n";
      return 0;
    }
    const Command* command = nullptr;
    for (const auto& c : all_commands())
      if (c.spec.name == invocation.command) command = &c;
    if (!command) {
      print_overview(invocation.help_requested ? io.out : io.err);
      return invocation.help_requested ? 0 : static_cast<int>(ExitCode::bad_input);
    }
    if (invocation.help_requested) {
      print_command_help(command->spec, io.out, invocation);
      return 0;
    }
    return command->run(invocation, io);
  } catch (const GuardFailure& e) {
    // The report was printed (or written) with its "What to do": point at it rather than repeat it.
    io.err << "error: " << e.what() << "\n";
    if (!e.report().advice.empty()) io.err << "  see 'What to do' in the report\n";
    else if (!e.hint().empty()) io.err << "  " << e.hint() << "\n";
    return static_cast<int>(e.exit_code());
  } catch (const Error& e) {
    io.err << "error: " << e.what() << "\n";
    if (!e.hint().empty()) io.err << "  " << e.hint() << "\n";
    return static_cast<int>(e.exit_code());
  } catch (const std::bad_alloc&) {
    io.err << "error: out of host memory\n";
    return static_cast<int>(ExitCode::job_failed);
  } catch (const std::exception& e) {
    io.err << "error: " << e.what() << "\n";
    return static_cast<int>(ExitCode::job_failed);
  }
}

}  // namespace vramguard
