// `vramguard plugins`: what strategy plugins the host found, and which it refused and why.
#include <iomanip>
#include <ostream>

#include <nlohmann/json.hpp>

#include "cli/command.hpp"
#include "engine/request_setup.hpp"
#include "request/cli_options.hpp"

namespace vramguard {

Command plugins_command() {
  CommandSpec spec{"plugins", "list the strategy plugins found, and those refused with the reason",
                   "vramguard plugins [--json] [--plugin-dir DIR]...",
                   "Plugins are searched in: --plugin-dir, VRAMGUARD_PLUGIN_PATH, the config's plugin_dirs, "
                   "then the built-in directory. A refused plugin is listed with the reason; the others still work.",
                   nullptr};
  return {spec, [](const Invocation& invocation, CommandIO& io) {
            const PluginRegistry registry = discover_plugins(plugin_search_from(invocation));
            if (invocation.flag("json")) {
              nlohmann::json doc;
              doc["plugins"] = nlohmann::json::array();
              for (const auto& p : registry.plugins()) {
                nlohmann::json options = nlohmann::json::array();
                for (const auto& o : p.options)
                  options.push_back({{"key", o.key}, {"values", o.values}, {"description", o.description}});
                doc["plugins"].push_back({{"name", p.name},
                                          {"version", p.version},
                                          {"api_version", p.api_version},
                                          {"file", p.file.string()},
                                          {"found_through", p.origin},
                                          {"description", p.description},
                                          {"options", options}});
              }
              doc["refused"] = nlohmann::json::array();
              for (const auto& f : registry.failures())
                doc["refused"].push_back(
                    {{"file", f.file.string()}, {"problem", plugin_problem_name(f.problem)}, {"message", f.message}});
              io.out << doc.dump(2) << '\n';
              return 0;
            }
            if (registry.plugins().empty()) {
              io.out << "No strategy plugins found.\n";
            } else {
              std::size_t name_width = 4, version_width = 7;
              for (const auto& p : registry.plugins()) {
                name_width = std::max(name_width, p.name.size());
                version_width = std::max(version_width, p.version.size());
              }
              io.out << std::left << std::setw(static_cast<int>(name_width) + 2) << "NAME"
                     << std::setw(static_cast<int>(version_width) + 2) << "VERSION" << std::setw(5) << "API"
                     << "DESCRIPTION\n";
              for (const auto& p : registry.plugins()) {
                io.out << std::setw(static_cast<int>(name_width) + 2) << p.name
                       << std::setw(static_cast<int>(version_width) + 2) << p.version << std::setw(5) << p.api_version
                       << p.description << "\n"
                       << std::string(name_width + 2, ' ') << "file: " << p.file.string() << "\n";
                for (const auto& o : p.options)
                  io.out << std::string(name_width + 2, ' ') << "option " << o.key << "=" << o.values << ": "
                         << o.description << "\n";
              }
            }
            if (!registry.failures().empty()) {
              io.out << "\nRefused (" << registry.failures().size() << "):\n";
              for (const auto& f : registry.failures())
                io.out << "  " << f.file.string() << "\n    " << plugin_problem_name(f.problem) << ": " << f.message
                       << "\n";
            }
            return 0;
          }};
}

}  // namespace vramguard
