#pragma once
// How a plan is shown: a table per device, per component and (optionally) per unit, the predicted
// times and the strategy's explanation; or JSON; or a Hugging Face device_map.
#include <iosfwd>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "guard/report.hpp"
#include "engine/request_setup.hpp"
#include "request/cli_options.hpp"
#include "vramguard/cost_model.hpp"

namespace vramguard {

void print_plan(const PlanningSetup& setup, const Placement& placement, const Prediction& prediction, bool with_units,
                std::ostream& out);
// Every unit with its size, mode, storage and executing device (plan --units, load --units).
void print_unit_table(const ModelGraph& graph, const Placement& placement, std::ostream& out);
nlohmann::json plan_json(const PlanningSetup& setup, const Placement& placement, const Prediction& prediction);
nlohmann::json budget_json(const DeviceBudget& budget);
// The placement for accelerate and transformers: `device_map` (where each unit's weights are stored,
// as from_pretrained(device_map=...) reads it), `execution_map` (where each unit runs) and a note on
// what accelerate does with streamed units. One entry per component for a pipeline.
nlohmann::json hugging_face_device_map(const PlanningSetup& setup, const Placement& placement);

}  // namespace vramguard
