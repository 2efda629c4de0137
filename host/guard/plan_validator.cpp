#include "guard/plan_validator.hpp"

#include "vramguard/byte_size.hpp"

namespace vramguard {

MemoryError explain_no_fit(const NoFitError& e) {
  std::string hint;
  for (const auto& [device, bytes] : e.minimum_bytes())
    hint += (hint.empty() ? "" : "; ") + device.str() + " needs at least " + format_bytes(bytes) + " usable";
  const std::string other = e.strategy() == "auto" ? "vramguard compare shows what every strategy would need"
                                                   : "or try --strategy auto (vramguard compare shows every strategy)";
  if (!hint.empty()) hint = "to make it fit: " + hint + " (raise --max-memory, lower --reserve, or free memory); " + other;
  else hint = other;
  return MemoryError(e.what(), hint);
}

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
