#include "guard/plan_validator.hpp"

#include "vramguard/byte_size.hpp"

namespace vramguard {

MemoryError explain_no_fit(const NoFitError& e, const DeviceBudget& budget, const Workload& workload) {
  // Where the workload's activations alone take what the device could give, more memory for weights is
  // not the remedy: a smaller workload is.
  std::string crowded;
  for (const auto* gpu : budget.gpus()) {
    const std::uint64_t room_past_context =
        gpu->cap_bytes ? (*gpu->cap_bytes > gpu->context_bytes ? *gpu->cap_bytes - gpu->context_bytes : 0)
                       : (gpu->free_bytes > gpu->reserve_bytes ? gpu->free_bytes - gpu->reserve_bytes : 0);
    if (gpu->headroom_bytes > 0 && gpu->headroom_bytes * 2 >= room_past_context)
      crowded += (crowded.empty() ? "" : "; ") + gpu->name() + "'s " + format_bytes(gpu->headroom_bytes) +
                 " kept for activations leave " + format_bytes(gpu->usable_bytes) + " of its " +
                 format_bytes(room_past_context) + " for weights";
  }
  // Where the adapters kept beside the weights (a LoRA's) are what leaves too little, more memory is not
  // the remedy either: fewer or smaller adapters are.
  std::string adapters;
  for (const auto* gpu : budget.gpus()) {
    const auto needed = e.minimum_bytes().find(gpu->id);
    if (gpu->adapter_bytes == 0 || needed == e.minimum_bytes().end() || gpu->usable_bytes >= needed->second) continue;
    DeviceInfo without = *gpu;
    without.adapter_bytes = 0;
    without.update_usable();
    if (without.usable_bytes >= needed->second)
      adapters += (adapters.empty() ? "" : "; ") + gpu->name() + " keeps " + format_bytes(gpu->adapter_bytes) +
                  " for adapters, and without them its " + format_bytes(without.usable_bytes) +
                  " usable would hold the " + format_bytes(needed->second) + " the plan needs";
  }
  if (!adapters.empty())
    return MemoryError(e.what(), "the adapters (LoRA weights) crowd out the model's (" + adapters +
                                     "): load fewer or lower-rank adapters, or lower --adapter-memory (adapter_memory= "
                                     "in Python) where it says more than they hold");
  std::string hint;
  for (const auto& [device, bytes] : e.minimum_bytes())
    hint += (hint.empty() ? "" : "; ") + device.str() + " needs at least " + format_bytes(bytes) + " usable";
  if (!crowded.empty())
    return MemoryError(e.what(),
                       "the workload's activations crowd out the weights (" + crowded + ", for --batch " +
                           std::to_string(workload.batch) +
                           (workload.tokens ? " x --tokens " + std::to_string(workload.tokens) : std::string()) +
                           "): lower --batch or --tokens, or set --headroom if you know what a step needs" +
                           (hint.empty() ? std::string() : "; beside them, for the weights, " + hint));
  const std::string other = e.strategy() == "auto" ? "vramguard compare shows what every strategy would need"
                                                   : "or try --strategy auto (vramguard compare shows every strategy)";
  if (!hint.empty())
    hint = "to make it fit: " + hint + " (raise --max-memory, lower --reserve, or free memory); " + other;
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
