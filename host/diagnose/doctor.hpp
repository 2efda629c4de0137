#pragma once
// `vramguard doctor`: a checklist of what decides whether a model loads here and how fast — the GPUs
// and their link, the processes holding their memory, the allocator settings, host memory and the
// memlock limit, and, with a model, which strategies fit now and a config that would work. On
// simulated devices every finding can be produced (simulated processes, a simulated memlock limit).
#include <iosfwd>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "devices/device_runtime.hpp"
#include "diagnose/finding.hpp"
#include "model/model_inspector.hpp"
#include "plugins/plugin_registry.hpp"
#include "request/load_request.hpp"
#include "engine/strategy_fit.hpp"
#include "vramguard/cost_model.hpp"

namespace vramguard {

struct DoctorReport {
  std::string runtime;                                    // "cuda" or "simulated"
  std::vector<Finding> findings;                          // in checklist order
  std::map<DeviceId, std::vector<GpuProcess>> processes;  // the other processes on each GPU
  std::vector<StrategyFit> strategies;                    // with a model
  std::optional<std::string> recommended;                 // the fastest strategy that fits now
  std::string config_text;                                // an INI config that loads the model now (with a fit)
  bool blocked() const { return any_blocker(findings); }
};

// `model` and `registry` may be null (no MODEL given).
DoctorReport diagnose(DeviceRuntime& runtime, const LoadRequest& request, const InspectedModel* model,
                      const PluginRegistry* registry);

// Plans the model with every strategy against the budget the devices have now.
std::vector<StrategyFit> fits_now(DeviceRuntime& runtime, const LoadRequest& request, const InspectedModel& model,
                                  const PluginRegistry& registry);
// An INI config with the options the request gave, as given, and `strategy` first: what loads the model now.
std::string config_for(const LoadRequest& request, const std::string& strategy);

nlohmann::json doctor_json(const DoctorReport& report);
void print_doctor(const DoctorReport& report, std::ostream& out);

}  // namespace vramguard
