#include "setup/plugin_discovery.hpp"

namespace vramguard {

PluginRegistry discover_plugins(const Invocation& invocation) {
  DiscoveryOptions options;
  options.allow_insecure = invocation.flag("allow-insecure-plugins");
  options.allow_duplicates = invocation.flag("allow-duplicate-plugins");
  const auto search_path = plugin_search_path(invocation.list("plugin-dir"), invocation.env_plugin_path,
                                              invocation.config_plugin_dirs, builtin_plugin_dir());
  return PluginRegistry::discover(search_path, options);
}

}  // namespace vramguard
