#pragma once
// One strategy planned and validated against one budget: whether it fits, why, what it costs, and
// where it does not fit, what it would need. compare and doctor both ask every strategy this.
#include <map>
#include <optional>
#include <string>

#include "plugins/plugin_registry.hpp"
#include "vramguard/cost_model.hpp"

namespace vramguard {

struct StrategyFit {
  std::string strategy;
  bool fits = false;
  std::string why;  // its explanation, or why it does not fit
  std::optional<Prediction> prediction;
  std::map<DeviceId, std::uint64_t> minimum;  // usable bytes it would need, where it does not fit
};

// NoFitError, an invalid plan and a broken plugin become a StrategyFit that does not fit, saying why;
// Interrupted and usage errors (a bad strategy option) go on.
StrategyFit evaluate_strategy(const PluginRegistry& registry, const std::string& name, const ModelGraph& model,
                              const DeviceBudget& budget, const Workload& workload, const StrategyOptions& options);

}  // namespace vramguard
