#include "plugins/plugin_search_path.hpp"

#include <system_error>

#include "core/install_paths.hpp"
#include "core/text.hpp"

#ifndef VRAMGUARD_PLUGIN_DIR_FROM_BINDIR
#error "VRAMGUARD_PLUGIN_DIR_FROM_BINDIR must be set by the build"
#endif

namespace vramguard {

std::vector<PluginSearchDir> plugin_search_path(const std::vector<std::string>& cli_dirs,
                                                const std::optional<std::string>& env_plugin_path,
                                                const std::vector<std::string>& config_dirs,
                                                const std::filesystem::path& builtin_dir) {
  std::vector<PluginSearchDir> dirs;
  for (const auto& dir : cli_dirs) dirs.push_back({dir, "--plugin-dir"});
  if (env_plugin_path) {
    for (const auto& dir : text::split(*env_plugin_path, ':'))
      if (!dir.empty()) dirs.push_back({dir, "VRAMGUARD_PLUGIN_PATH"});
  }
  for (const auto& dir : config_dirs) dirs.push_back({dir, "config plugin_dirs"});
  if (!builtin_dir.empty()) dirs.push_back({builtin_dir, "built-in"});
  return dirs;
}

std::filesystem::path builtin_plugin_dir() {
  // From the CLI in bin/ (a build-time relative path), the runtime library in lib/, or the Python package.
  return find_beside_this_binary({VRAMGUARD_PLUGIN_DIR_FROM_BINDIR, "vramguard/plugins", "plugins"});
}

}  // namespace vramguard
