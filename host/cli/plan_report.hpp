#pragma once
// How a plan is shown: a table per device, per component and (optionally) per unit, the predicted
// times and the strategy's explanation; or JSON; or a Hugging Face device_map.
#include <iosfwd>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/planning_setup.hpp"
#include "vramguard/cost_model.hpp"

namespace vramguard {

void print_plan(const PlanningSetup& setup, const Placement& placement, const Prediction& prediction, bool with_units,
                std::ostream& out);
nlohmann::json plan_json(const PlanningSetup& setup, const Placement& placement, const Prediction& prediction);
nlohmann::json budget_json(const DeviceBudget& budget);
// Module prefix → GPU index, "cpu" or "disk"; one map per component for a pipeline.
nlohmann::json hugging_face_device_map(const PlanningSetup& setup, const Placement& placement);

std::string seconds_text(double seconds);

}  // namespace vramguard
