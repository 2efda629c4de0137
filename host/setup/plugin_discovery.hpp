#pragma once
#include "config/invocation.hpp"
#include "plugins/plugin_registry.hpp"

namespace vramguard {

// Discovers plugins along the search path this invocation describes.
PluginRegistry discover_plugins(const Invocation& invocation);

}  // namespace vramguard
