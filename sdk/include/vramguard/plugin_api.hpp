#pragma once
// The plugin ABI. A plugin library exports one PluginDescriptor through Boost.DLL under the alias
// `vramguard_plugin` (in the "boostdll" section, so the host can find it without loading the
// library), and nothing else. The host checks, in this order and before it reads anything more:
// api_version (always the first field), layout_fingerprint (the sizes and alignments of every type
// that crosses the boundary, so a changed struct is caught even if nobody bumped the version), and
// standard_library (std::string and std::map cross the boundary, so both sides need one ABI).
//
//     class MyStrategy final : public vramguard::PlacementStrategy { ... };
//     VRAMGUARD_REGISTER_STRATEGY(MyStrategy, "my-strategy", "1.0.0", "What it does, in one line")
//
// No exception crosses the boundary: the macro's functions run inside the plugin, catch whatever the
// strategy throws, and hand the host a PlanOutcome (LLVM's plugin interface works the same way).
#include <cstddef>
#include <concepts>
#include <cstdint>
#include <exception>
#include <initializer_list>
#include <map>
#include <string>
#include <vector>

#include <boost/dll/alias.hpp>

#include "vramguard/strategy.hpp"

namespace vramguard {

inline constexpr int kPluginApiVersion = 8;  // 8: memory bandwidth, element-wise bytes (DeviceInfo, Unit)

// What one plan call came to, filled on the plugin's side.
struct PlanOutcome {
  enum class Status : std::uint8_t { planned, no_fit, invalid_option, failed };
  Status status = Status::failed;
  Placement placement;                              // planned
  std::string message;                              // the reason (no_fit), or the error's text
  std::map<DeviceId, std::uint64_t> minimum_bytes;  // no_fit: what the strategy would need
  std::string option;                               // invalid_option: which option
};

// The entry points, each noexcept: they catch everything inside the plugin.
using CreateStrategyFunction = PlacementStrategy* (*)(std::string& error) noexcept;
using DestroyStrategyFunction = void (*)(PlacementStrategy* strategy) noexcept;
using PlanFunction = void (*)(const PlacementStrategy& strategy, const PlanRequest& request,
                              PlanOutcome& outcome) noexcept;
using DescribeOptionsFunction = void (*)(std::vector<StrategyOptionInfo>& options, std::string& error) noexcept;

struct PluginDescriptor {
  int api_version;                   // first, always: the host reads it before anything else
  std::uint64_t layout_fingerprint;  // second: plugin_layout_fingerprint() as the plugin was built
  const char* standard_library;      // third: plugin_standard_library() as the plugin was built
  const char* name;                  // unique among loaded plugins; what --strategy and configs name
  const char* version;
  const char* description;  // one line
  CreateStrategyFunction create;
  DestroyStrategyFunction destroy;
  PlanFunction plan;
  DescribeOptionsFunction describe_options;  // the options the strategy declares (may list none)
};

inline constexpr const char* kPluginDescriptorSymbol = "vramguard_plugin";
inline constexpr const char* kPluginSymbolSection = "boostdll";

namespace detail {

constexpr std::uint64_t fold_layout(std::initializer_list<std::size_t> figures) {
  std::uint64_t hash = 0xcbf29ce484222325ULL;  // FNV-1a over the figures
  for (std::size_t figure : figures) {
    for (int byte = 0; byte < 8; ++byte) {
      hash ^= (static_cast<std::uint64_t>(figure) >> (8 * byte)) & 0xFF;
      hash *= 0x100000001b3ULL;
    }
  }
  return hash;
}

}  // namespace detail

// Sizes and alignments of every type a plugin and the host exchange, folded into one number.
constexpr std::uint64_t plugin_layout_fingerprint() {
  // clang-format off
  return detail::fold_layout({
      sizeof(TensorInfo), alignof(TensorInfo), sizeof(Unit), alignof(Unit), sizeof(Component), alignof(Component),
      sizeof(ModelGraph), alignof(ModelGraph), sizeof(DeviceId), alignof(DeviceId), sizeof(DeviceInfo),
      alignof(DeviceInfo), sizeof(DeviceBudget), alignof(DeviceBudget), sizeof(Workload), alignof(Workload),
      sizeof(PlanRequest), alignof(PlanRequest), sizeof(StrategyOptions), sizeof(UnitPlacement), alignof(UnitPlacement),
      sizeof(Placement), alignof(Placement), sizeof(PlanOutcome), alignof(PlanOutcome), sizeof(PluginDescriptor),
      alignof(PluginDescriptor), sizeof(PlacementStrategy), sizeof(std::string), sizeof(std::map<int, int>),
      sizeof(StrategyOptionInfo), sizeof(std::vector<StrategyOptionInfo>)});
  // clang-format on
}

// The C++ standard library ABI the plugin was built with.
constexpr const char* plugin_standard_library() {
#if defined(_LIBCPP_VERSION)
  return "libc++";
#elif defined(__GLIBCXX__) && defined(_GLIBCXX_USE_CXX11_ABI) && _GLIBCXX_USE_CXX11_ABI
  return "libstdc++ (C++11 ABI)";
#elif defined(__GLIBCXX__)
  return "libstdc++ (pre-C++11 ABI)";
#else
  return "unknown";
#endif
}

namespace detail {

template <typename Strategy>
PlacementStrategy* create_strategy(std::string& error) noexcept {
  try {
    return new Strategy();
  } catch (const std::exception& e) {
    error = e.what();
  } catch (...) {
    error = "it threw something that is not a std::exception";
  }
  return nullptr;
}

inline void destroy_strategy(PlacementStrategy* strategy) noexcept { delete strategy; }

inline void plan_guarded(const PlacementStrategy& strategy, const PlanRequest& request, PlanOutcome& outcome) noexcept {
  try {
    outcome.placement = strategy.plan(request);
    outcome.status = PlanOutcome::Status::planned;
  } catch (const NoFitError& e) {
    outcome.status = PlanOutcome::Status::no_fit;
    outcome.message = e.reason();
    outcome.minimum_bytes = e.minimum_bytes();
  } catch (const InvalidStrategyOption& e) {
    outcome.status = PlanOutcome::Status::invalid_option;
    outcome.message = e.what();
    outcome.option = e.option();
  } catch (const std::exception& e) {
    outcome.status = PlanOutcome::Status::failed;
    outcome.message = e.what();
  } catch (...) {
    outcome.status = PlanOutcome::Status::failed;
    outcome.message = "it threw something that is not a std::exception";
  }
}

template <typename Strategy>
void describe_options(std::vector<StrategyOptionInfo>& options, std::string& error) noexcept {
  try {
    if constexpr (requires {
                    { Strategy::options() } -> std::convertible_to<std::vector<StrategyOptionInfo>>;
                  })
      options = Strategy::options();
  } catch (const std::exception& e) {
    error = e.what();
  } catch (...) {
    error = "it threw something that is not a std::exception";
  }
}

}  // namespace detail
}  // namespace vramguard

// The descriptor is the plugin's only exported symbol (the CMake helper hides everything else).
#define VRAMGUARD_REGISTER_STRATEGY(StrategyClass, Name, Version, Description)                           \
  namespace vramguard_plugin_registration {                                                              \
  extern const ::vramguard::PluginDescriptor descriptor;                                                 \
  const ::vramguard::PluginDescriptor descriptor{::vramguard::kPluginApiVersion,                         \
                                                 ::vramguard::plugin_layout_fingerprint(),               \
                                                 ::vramguard::plugin_standard_library(),                 \
                                                 Name,                                                   \
                                                 Version,                                                \
                                                 Description,                                            \
                                                 &::vramguard::detail::create_strategy<StrategyClass>,   \
                                                 &::vramguard::detail::destroy_strategy,                 \
                                                 &::vramguard::detail::plan_guarded,                     \
                                                 &::vramguard::detail::describe_options<StrategyClass>}; \
  }                                                                                                      \
  BOOST_DLL_ALIAS(vramguard_plugin_registration::descriptor, vramguard_plugin)
