#include "engine/strategy_fit.hpp"

#include "core/stop_signal.hpp"
#include "guard/plan_validator.hpp"

namespace vramguard {

StrategyFit evaluate_strategy(const PluginRegistry& registry, const std::string& name, const ModelGraph& model,
                              const DeviceBudget& budget, const Workload& workload, const StrategyOptions& options) {
  StrategyFit fit;
  fit.strategy = name;
  try {
    const StrategyInstance strategy = registry.create(name);
    const Placement placement = strategy.plan({model, budget, workload, options}, &stop_flag());
    fit.prediction = validate_plan(model, budget, workload, placement, name);
    fit.fits = true;
    fit.why = placement.explanation;
  } catch (const NoFitError& e) {
    fit.why = "does not fit: " + e.reason();
    fit.minimum = e.minimum_bytes();
  } catch (const InvalidPlanError& e) {
    fit.why = e.what();
  } catch (const PluginError& e) {
    fit.why = e.what();
  }
  return fit;
}

}  // namespace vramguard
