#pragma once
// What every planning command starts from: the model (inspect), the workload, the devices (probe)
// and the budget built from the user's options; plus the strategy plugins. Commands that load (load,
// run, fix, compare --measure) add the guard's options.
#include <cstdint>
#include <string>
#include <vector>

#include "budget/budget_options.hpp"
#include "config/invocation.hpp"
#include "devices/device_runtime.hpp"
#include "guard/guard_pipeline.hpp"
#include "model/model_inspector.hpp"
#include "plugins/plugin_registry.hpp"
#include "vramguard/strategy.hpp"

namespace vramguard {

struct PlanningSetup {
  InspectedModel model;
  Workload workload;
  DeviceBudget budget;
  std::string runtime;             // "cuda" or "simulated"
  std::vector<std::string> notes;  // facts the report states (e.g. where the cpu budget came from)
};

void declare_planning_options(CommandOptions& own);
// The fallback ladder, the allocator settings, and the simulated faults: options of the loading commands.
void declare_guard_options(CommandOptions& own);
// Other programs on simulated GPUs (real processes, a usage timeline) and a simulated memlock limit:
// what doctor, fix and monitor show (declare_guard_options includes them).
void declare_simulated_neighbours(CommandOptions& own);
PlanningSetup prepare_planning(const Invocation& invocation);

// The device runtime this invocation asks for: simulated (--simulate, with any injected faults) or
// CUDA, after preflight has configured the CUDA allocator. `allocator` receives what is in effect.
// `keep_data` makes simulated blocks hold real bytes (to verify them, or to run on the CPU).
std::unique_ptr<DeviceRuntime> make_runtime(const Invocation& invocation, bool keep_data = false, std::string* allocator = nullptr);
BudgetOptions budget_options_from(const Invocation& invocation);
Workload workload_from(const Invocation& invocation);
// --height and --width: the pixels of generated inputs for image models (run, compare --measure).
void declare_image_size_options(CommandOptions& own);
struct ImageSize {
  std::uint64_t height = 0, width = 0;  // 0: the family's default
};
ImageSize image_size_from(const Invocation& invocation);
std::optional<std::uint64_t> declared_cpu_memory(const Invocation& invocation);
// The guard's options for this invocation: the first strategy and the ladder, the budget, the workload.
GuardOptions guard_options_from(const Invocation& invocation, const InspectedModel& model, const PluginRegistry& registry);

// The [strategy.NAME] config section, then --option KEY=VALUE (or NAME.KEY=VALUE) on top.
StrategyOptions strategy_options_for(const Invocation& invocation, const std::string& strategy, bool bare_keys_apply);

}  // namespace vramguard
