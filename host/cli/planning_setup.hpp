#pragma once
// What every planning command starts from: the model (inspect), the workload, the devices (probe)
// and the budget built from the user's options; plus the strategy plugins.
#include <string>
#include <vector>

#include "budget/budget_options.hpp"
#include "config/invocation.hpp"
#include "devices/device_runtime.hpp"
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
PlanningSetup prepare_planning(const Invocation& invocation);

// The device runtime this invocation asks for: simulated (--simulate, with any injected faults) or
// CUDA, after preflight has configured the CUDA allocator. `allocator` receives what is in effect.
std::unique_ptr<DeviceRuntime> make_runtime(const Invocation& invocation, std::string* allocator = nullptr);
BudgetOptions budget_options_from(const Invocation& invocation);
std::optional<std::uint64_t> declared_cpu_memory(const Invocation& invocation);

// The [strategy.NAME] config section, then --option KEY=VALUE (or NAME.KEY=VALUE) on top.
StrategyOptions strategy_options_for(const Invocation& invocation, const std::string& strategy, bool bare_keys_apply);

}  // namespace vramguard
