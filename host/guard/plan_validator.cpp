#include "guard/plan_validator.hpp"

namespace vramguard {

Prediction validate_plan(const ModelGraph& model, const DeviceBudget& budget, const Workload& workload,
                         const Placement& placement, const std::string& plugin) {
  PlanCheck check = check_plan(model, budget, workload, placement);
  if (!check.ok()) {
    std::string problem = check.violations.front();
    if (check.violations.size() > 1) problem += " (and " + std::to_string(check.violations.size() - 1) + " more)";
    throw InvalidPlanError(plugin, problem);
  }
  return std::move(check.prediction);
}

}  // namespace vramguard
