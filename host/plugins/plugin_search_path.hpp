#pragma once
// Where the host looks for strategy plugins, in order:
// --plugin-dir (repeatable) > VRAMGUARD_PLUGIN_PATH (':'-separated) > the config's plugin_dirs >
// the built-in directory (beside the binary in a build tree, under the install prefix once installed).
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace vramguard {

struct PluginSearchDir {
  std::filesystem::path path;
  std::string origin;  // "--plugin-dir", "VRAMGUARD_PLUGIN_PATH", "config plugin_dirs", "built-in"
};

std::vector<PluginSearchDir> plugin_search_path(const std::vector<std::string>& cli_dirs,
                                                const std::optional<std::string>& env_plugin_path,
                                                const std::vector<std::string>& config_dirs,
                                                const std::filesystem::path& builtin_dir);

// <directory of the running binary>/<relative path to the plugin directory, fixed at build time>.
std::filesystem::path builtin_plugin_dir();

}  // namespace vramguard
