#include "gpu_first.hpp"

#include <map>

namespace gpu_first {

using namespace vramguard;

Placement GpuFirstStrategy::plan(const PlanRequest& request) const {
  require_known_options(request.options, {}, "gpu-first");
  const auto gpus = request.budget.gpus();
  if (gpus.empty()) throw NoFitError("gpu-first", "there is no GPU in the budget", {});
  const std::string first_gpu = gpus.front()->name;

  // Bytes of every tie group, so a group is placed as one piece where its first member appears.
  std::map<std::string, std::uint64_t> group_bytes;
  for (const auto& component : request.model.components)
    for (const auto& unit : component.units)
      if (!unit.tie_group.empty()) group_bytes[unit.tie_group] += unit.bytes;

  Placement placement;
  placement.strategy = "gpu-first";
  std::vector<std::uint64_t> used(gpus.size(), 0);
  std::size_t gpu = 0;
  std::map<std::string, UnitPlacement> group_decision;
  std::uint64_t streamed = 0;

  for (const auto& component : request.model.components) {
    for (const auto& unit : component.units) {
      if (!unit.tie_group.empty()) {
        if (const auto it = group_decision.find(unit.tie_group); it != group_decision.end()) {
          placement.units.push_back({component.name, unit.name, it->second.storage, it->second.mode,
                                     it->second.executes_on});
          continue;
        }
      }
      const std::uint64_t need = unit.tie_group.empty() ? unit.bytes : group_bytes[unit.tie_group];
      while (gpu < gpus.size() && used[gpu] + need > gpus[gpu]->usable_bytes) ++gpu;
      UnitPlacement placed{component.name, unit.name, "cpu", PlacementMode::streamed, first_gpu};
      if (gpu < gpus.size()) {
        used[gpu] += need;
        placed.storage = placed.executes_on = gpus[gpu]->name;
        placed.mode = PlacementMode::resident;
      } else {
        streamed += need;
      }
      if (!unit.tie_group.empty()) group_decision[unit.tie_group] = placed;
      placement.units.push_back(placed);
    }
  }
  const auto* cpu = request.budget.cpu();
  if (streamed > 0 && cpu != nullptr && streamed > cpu->usable_bytes)
    throw NoFitError("gpu-first", "the units that do not fit on the GPUs do not fit in CPU memory either",
                     {{"cpu", streamed}});
  placement.settings["prefetch_depth"] = "1";
  placement.explanation = streamed == 0 ? "every unit fits on the GPUs, filled in order"
                                        : "GPUs filled in order; the rest is streamed from CPU memory";
  return placement;
}

}  // namespace gpu_first
