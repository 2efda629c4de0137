#include "guard/plan_validator.hpp"

#include <map>
#include <set>

#include "vramguard/byte_size.hpp"

namespace vramguard {

Prediction validate_plan(const ModelGraph& model, const DeviceBudget& budget, const Workload& workload,
                         const Placement& placement, const std::string& plugin) {
  auto fail = [&](const std::string& problem) { throw InvalidPlanError(plugin, problem); };

  std::map<std::pair<std::string, std::string>, const UnitPlacement*> placed;
  for (const auto& unit : placement.units) {
    if (!placed.emplace(std::make_pair(unit.component, unit.unit), &unit).second)
      fail("unit " + unit.component + "/" + unit.unit + " is placed more than once");
  }
  std::set<std::pair<std::string, std::string>> known;
  for (const auto& component : model.components)
    for (const auto& unit : component.units) known.emplace(component.name, unit.name);
  for (const auto& [key, unit] : placed)
    if (!known.count(key)) fail("unit " + key.first + "/" + key.second + " is not in the model");
  for (const auto& component : model.components) {
    std::map<std::string, std::string> tie_storage;
    for (const auto& unit : component.units) {
      const auto it = placed.find({component.name, unit.name});
      if (it == placed.end()) fail("unit " + component.name + "/" + unit.name + " is not placed");
      const UnitPlacement& p = *it->second;
      const std::string where = component.name + "/" + unit.name;
      const DeviceInfo* storage = budget.find(p.storage);
      const DeviceInfo* executor = budget.find(p.executes_on);
      if (storage == nullptr) fail("unit " + where + " is stored on " + p.storage + ", which the budget does not have");
      if (executor == nullptr) fail("unit " + where + " executes on " + p.executes_on + ", which the budget does not have");
      switch (p.mode) {
        case PlacementMode::resident:
          if (storage->kind != DeviceKind::cuda || p.storage != p.executes_on)
            fail("resident unit " + where + " must be stored on the GPU it executes on (stored " + p.storage + ", executes " + p.executes_on + ")");
          break;
        case PlacementMode::streamed:
          if (storage->kind == DeviceKind::cuda || executor->kind != DeviceKind::cuda)
            fail("streamed unit " + where + " must be stored on cpu or disk and execute on a GPU (stored " + p.storage +
                 ", executes " + p.executes_on + ")");
          break;
        case PlacementMode::cpu:
          if (storage->kind != DeviceKind::cpu || executor->kind != DeviceKind::cpu)
            fail("CPU unit " + where + " must be stored on and execute on cpu");
          if (!budget.allow_cpu_compute) fail("unit " + where + " computes on the CPU, which was not allowed (--allow-cpu-compute)");
          break;
      }
      if (!unit.tie_group.empty()) {
        const auto [tie, inserted] = tie_storage.emplace(unit.tie_group, p.storage);
        if (!inserted && tie->second != p.storage)
          fail("units sharing weights (" + unit.tie_group + ") are split: " + where + " is on " + p.storage + ", another on " + tie->second);
      }
    }
  }
  Prediction prediction = predict(model, budget, placement, workload);
  for (const auto& device : prediction.devices) {
    if (device.fits) continue;
    const DeviceInfo* info = budget.find(device.device);
    if (info->kind == DeviceKind::cuda)
      fail(device.device + " would hold " + format_bytes(device.resident_bytes) + " of resident weights and a " +
           format_bytes(device.window_bytes) + " streaming window, more than its " + format_bytes(device.usable_bytes) + " usable");
    fail(device.device + " would hold " + format_bytes(device.resident_bytes) + ", more than its " + format_bytes(device.usable_bytes) + " usable");
  }
  if (prediction.pinned_bytes > budget.pinned_cap_bytes)
    fail("it streams " + format_bytes(prediction.pinned_bytes) + " from pinned memory, more than the pinned cap of " +
         format_bytes(budget.pinned_cap_bytes));
  return prediction;
}

}  // namespace vramguard
