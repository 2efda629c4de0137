#include "my_strategy.hpp"

namespace my_strategy {

using namespace vramguard;

// Replace this with your placement. Rules the host checks (see docs/writing-a-plugin.md): one entry
// per unit, in graph order; tie groups together; per-device bytes within usable_bytes.
Placement MyStrategy::plan(const PlanRequest& request) const {
  require_known_options(request.options, {}, "my-strategy");
  const auto gpus = request.budget.gpus();
  if (gpus.empty()) throw NoFitError("my-strategy", "there is no GPU in the budget", {});
  const DeviceInfo& gpu = *gpus.front();
  if (request.model.bytes() > gpu.usable_bytes)
    throw NoFitError("my-strategy", "the model does not fit on " + gpu.name, {{gpu.name, request.model.bytes()}});

  Placement placement;
  placement.strategy = "my-strategy";
  for (const auto& component : request.model.components)
    for (const auto& unit : component.units)
      placement.units.push_back({component.name, unit.name, gpu.name, PlacementMode::resident, gpu.name});
  placement.explanation = "everything resident on " + gpu.name;
  return placement;
}

}  // namespace my_strategy
