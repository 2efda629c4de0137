#pragma once
// What a LoadRequest sets up before anything loads: the model read from its headers, the device
// runtime (real, or simulated with its faults), the strategy plugins, the budget the devices allow,
// and the guard's options. Every command and the runtime API start here, with typed values only.
#include <memory>
#include <string>
#include <vector>

#include "devices/device_runtime.hpp"
#include "guard/guard_pipeline.hpp"
#include "model/model_inspector.hpp"
#include "plugins/plugin_registry.hpp"
#include "request/load_request.hpp"

namespace vramguard {

InspectedModel inspect_requested(const LoadRequest& request);

// Simulated devices (with any injected faults) or CUDA, after the CUDA allocator has been configured.
// `allocator` receives the settings in effect. `keep_data` makes simulated blocks hold real bytes (to
// verify them, or to run on the CPU).
std::unique_ptr<DeviceRuntime> make_runtime(const LoadRequest& request, bool keep_data = false,
                                            std::string* allocator = nullptr);

PluginRegistry discover_plugins(const PluginSearch& search);

// The first strategy, the ladder (each name checked against the plugins before anything loads), the
// budget, the workload and how weights travel.
GuardOptions guard_options_from(const LoadRequest& request, const PluginRegistry& registry);

// What every planning command starts from: the model, the workload, and the budget of the probed devices.
struct PlanningSetup {
  InspectedModel model;
  Workload workload;
  DeviceBudget budget;
  std::string runtime;             // "cuda" or "simulated"
  std::vector<std::string> notes;  // facts the report states (e.g. where the cpu budget came from)
};
PlanningSetup prepare_planning(const LoadRequest& request);
// The budget the devices allow the request now.
DeviceBudget probe_budget_for(DeviceRuntime& runtime, const InspectedModel& model, const LoadRequest& request,
                              std::vector<std::string>* notes = nullptr);

// `vramguard plan` and runtime::plan: the request's first strategy plans the model against the budget
// of the probed devices, and the plan is validated. NoFitError becomes the explained JobError.
struct PlannedRequest {
  PlanningSetup setup;
  Placement placement;
  Prediction prediction;
};
PlannedRequest plan_request(const LoadRequest& request);

}  // namespace vramguard
