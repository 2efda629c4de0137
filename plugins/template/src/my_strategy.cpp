#include "my_strategy.hpp"

#include <vramguard/sdk.hpp>

namespace my_strategy {

using namespace vramguard;

namespace {
constexpr const char* kName = "my-strategy";
}

// Replace this with your placement. The rules the host checks (docs/writing-a-plugin.md) are in
// vramguard/plan_rules.hpp, and check_plan() holds a plan to them in your tests. PlanContext gives the
// units in forward order with tie groups as single items and their allocator-rounded sizes.
Placement MyStrategy::plan(const PlanRequest& request) const {
  require_known_options(request.options, {}, kName);
  PlanContext context(request);
  const auto gpus = context.gpus();
  if (gpus.empty()) throw NoFitError(kName, "there is no GPU in the budget", {});
  const DeviceInfo& gpu = *gpus.front();
  std::uint64_t needed = 0;
  for (const auto& item : context.items()) needed += item.allocated_bytes;  // what the allocator will take
  if (needed > gpu.usable_bytes)
    throw NoFitError(kName,
                     "the model's " + format_bytes(needed) + " do not fit in " + format_bytes(gpu.usable_bytes) +
                         " usable on " + gpu.name(),
                     {{gpu.id, needed}});
  for (const auto& item : context.items()) context.place(item, gpu.id, PlacementMode::resident, gpu.id);
  return context.finish(kName, /*prefetch_depth=*/0, "everything resident on " + gpu.name());
}

}  // namespace my_strategy
