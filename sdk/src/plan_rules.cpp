#include "vramguard/plan_rules.hpp"

#include <map>
#include <set>

#include "vramguard/byte_size.hpp"

namespace vramguard {

PlanCheck check_plan(const ModelGraph& model, const DeviceBudget& budget, const Workload& workload,
                     const Placement& placement) {
  PlanCheck check;
  auto fail = [&](std::string problem) { check.violations.push_back(std::move(problem)); };

  if (placement.prefetch_depth < 0 || placement.prefetch_depth > kMaxPrefetchDepth)
    fail("prefetch depth " + std::to_string(placement.prefetch_depth) + " is outside 0.." +
         std::to_string(kMaxPrefetchDepth));
  std::map<std::pair<std::string, std::string>, const UnitPlacement*> placed;
  for (const auto& unit : placement.units)
    if (!placed.emplace(std::make_pair(unit.component, unit.unit), &unit).second)
      fail("unit " + unit.component + "/" + unit.unit + " is placed more than once");
  std::set<std::pair<std::string, std::string>> known;
  for (const auto& component : model.components)
    for (const auto& unit : component.units) known.emplace(component.name, unit.name);
  for (const auto& [key, unit] : placed)
    if (!known.count(key)) fail("unit " + key.first + "/" + key.second + " is not in the model");
  bool devices_known = true;
  for (const auto& component : model.components) {
    std::map<std::string, DeviceId> tie_storage;
    for (const auto& unit : component.units) {
      const auto it = placed.find({component.name, unit.name});
      if (it == placed.end()) {
        fail("unit " + component.name + "/" + unit.name + " is not placed");
        continue;
      }
      const UnitPlacement& p = *it->second;
      const std::string where = component.name + "/" + unit.name;
      const DeviceInfo* storage = budget.find(p.storage);
      const DeviceInfo* executor = budget.find(p.executes_on);
      if (storage == nullptr)
        fail("unit " + where + " is stored on " + p.storage.str() + ", which the budget does not have");
      if (executor == nullptr)
        fail("unit " + where + " executes on " + p.executes_on.str() + ", which the budget does not have");
      if (storage == nullptr || executor == nullptr) {
        devices_known = false;
        continue;
      }
      switch (p.mode) {
        case PlacementMode::resident:
          if (!p.storage.is_gpu() || p.storage != p.executes_on)
            fail("resident unit " + where + " must be stored on the GPU it executes on (stored " + p.storage.str() +
                 ", executes " + p.executes_on.str() + ")");
          break;
        case PlacementMode::streamed:
          if (p.storage.is_gpu() || !p.executes_on.is_gpu())
            fail("streamed unit " + where + " must be stored on cpu or disk and execute on a GPU (stored " +
                 p.storage.str() + ", executes " + p.executes_on.str() + ")");
          break;
        case PlacementMode::cpu:
          if (p.storage != DeviceId::host() || p.executes_on != DeviceId::host())
            fail("CPU unit " + where + " must be stored on and execute on cpu");
          else if (!budget.allow_cpu_compute)
            fail("unit " + where + " computes on the CPU, which was not allowed (--allow-cpu-compute)");
          break;
      }
      if (!unit.tie_group.empty()) {
        const auto [tie, inserted] = tie_storage.emplace(unit.tie_group, p.storage);
        if (!inserted && tie->second != p.storage)
          fail("units sharing weights (" + unit.tie_group + ") are split: " + where + " is on " + p.storage.str() +
               ", another on " + tie->second.str());
      }
    }
  }
  check.prediction = predict(model, budget, placement, workload);
  if (!devices_known) return check;  // the figures below would count units on devices that do not exist
  for (const auto& device : check.prediction.devices) {
    if (device.fits) continue;
    if (device.device.is_gpu())
      fail(device.device.str() + " would hold " + format_bytes(device.resident_bytes) + " of resident weights and a " +
           format_bytes(device.window_bytes) + " streaming window, more than its " + format_bytes(device.usable_bytes) +
           " usable");
    else
      fail(device.device.str() + " would hold " + format_bytes(device.resident_bytes) + ", more than its " +
           format_bytes(device.usable_bytes) + " usable");
  }
  if (check.prediction.pinned_bytes > budget.pinned_cap_bytes)
    fail("it streams " + format_bytes(check.prediction.pinned_bytes) +
         " from pinned memory, more than the pinned cap of " + format_bytes(budget.pinned_cap_bytes));
  return check;
}

}  // namespace vramguard
