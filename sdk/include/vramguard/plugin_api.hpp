#pragma once
// The plugin ABI. A plugin library exports one PluginDescriptor through Boost.DLL under the alias
// `vramguard_plugin` (in the "boostdll" section, so the host can find it without loading the
// library). The host checks api_version — always the first field — before it reads anything else,
// and refuses any mismatch. Bump kPluginApiVersion whenever the descriptor or any SDK type a plugin
// sees changes layout.
//
//     class MyStrategy final : public vramguard::PlacementStrategy { ... };
//     VRAMGUARD_REGISTER_STRATEGY(MyStrategy, "my-strategy", "1.0.0", "What it does, in one line")
//
// A plugin that links libtorch includes <torch/version.h> before this header, so that its
// descriptor records the libtorch major.minor it was built against; the host refuses a mismatch.
#include <memory>

#include <boost/dll/alias.hpp>

#include "vramguard/strategy.hpp"

namespace vramguard {

inline constexpr int kPluginApiVersion = 1;

using StrategyFactory = std::unique_ptr<PlacementStrategy> (*)();

struct PluginDescriptor {
  int api_version;          // first, always: the host reads it before anything else
  int torch_major;          // the libtorch the plugin links, 0.0 when it links none
  int torch_minor;
  const char* name;         // unique among loaded plugins; what --strategy and configs name
  const char* version;
  const char* description;  // one line
  StrategyFactory create;
};

inline constexpr const char* kPluginDescriptorSymbol = "vramguard_plugin";
inline constexpr const char* kPluginSymbolSection = "boostdll";

}  // namespace vramguard

#if defined(TORCH_VERSION_MAJOR) && defined(TORCH_VERSION_MINOR)
#define VRAMGUARD_PLUGIN_TORCH_MAJOR TORCH_VERSION_MAJOR
#define VRAMGUARD_PLUGIN_TORCH_MINOR TORCH_VERSION_MINOR
#else
#define VRAMGUARD_PLUGIN_TORCH_MAJOR 0
#define VRAMGUARD_PLUGIN_TORCH_MINOR 0
#endif

#define VRAMGUARD_REGISTER_STRATEGY(StrategyClass, Name, Version, Description)                      \
  namespace vramguard_plugin_registration {                                                        \
  static std::unique_ptr<::vramguard::PlacementStrategy> create_strategy() {                      \
    return std::make_unique<StrategyClass>();                                                      \
  }                                                                                                \
  extern const ::vramguard::PluginDescriptor descriptor;                                           \
  const ::vramguard::PluginDescriptor descriptor{                                                  \
      ::vramguard::kPluginApiVersion, VRAMGUARD_PLUGIN_TORCH_MAJOR, VRAMGUARD_PLUGIN_TORCH_MINOR,   \
      Name, Version, Description, &create_strategy};                                               \
  }                                                                                                \
  BOOST_DLL_ALIAS(vramguard_plugin_registration::descriptor, vramguard_plugin)
