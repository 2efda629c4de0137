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

// Predicted times closer than this are a tie: the cost model is not that exact, and a tie goes to the
// strategy the user already runs.
inline constexpr double kStrategyTieFraction = 0.02;

// What compare, doctor and fix say to load with: the fastest strategy that fits, judged by the whole
// job (the load and every component's passes) where the workload describes one, else by one pass.
// Within kStrategyTieFraction of it, `yours` (the user's own, where it fits) is kept.
struct StrategyVerdict {
  std::string strategy;
  bool kept_yours = false;
  std::string text;  // "Keep balanced: auto is 0.5 % faster (522.91 s against 525.44 s a job), a tie within 2 %."
};
std::optional<StrategyVerdict> pick_strategy(const std::vector<StrategyFit>& fits, const std::string& yours, bool job);

}  // namespace vramguard
