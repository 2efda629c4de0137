#pragma once
// The guard's validate stage: whatever plugin made a plan, check it before it costs memory, by the
// SDK's plan rules (vramguard/plan_rules.hpp), which plugins can check in their own tests too.
#include <string>

#include "core/errors.hpp"
#include "vramguard/plan_rules.hpp"

namespace vramguard {

// A plan that breaks a rule: names the plugin, the unit or device, and the figures.
class InvalidPlanError : public JobError {
 public:
  InvalidPlanError(const std::string& plugin, const std::string& problem)
      : JobError("plan from strategy '" + plugin + "' is invalid: " + problem,
                 "this is a bug in the strategy plugin; choose another strategy or report it to its author") {}
};

// A strategy's "does not fit", as the user's error: what each device would need, and what to try —
// a smaller workload where its activations are what leaves no room.
MemoryError explain_no_fit(const NoFitError& e, const DeviceBudget& budget, const Workload& workload);

// Throws InvalidPlanError for the first rule the plan breaks; returns the prediction it checked.
Prediction validate_plan(const ModelGraph& model, const DeviceBudget& budget, const Workload& workload,
                         const Placement& placement, const std::string& plugin);

}  // namespace vramguard
