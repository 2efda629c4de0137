#pragma once
#include <vector>

#include <vramguard/strategy.hpp>

namespace vramguard::strategies {

// accelerate's device_map="balanced", at unit granularity: the budgets of get_balanced_memory, then
// the greedy fill of infer_auto_device_map (GPUs in order, then CPU, then disk, keeping room on the
// main GPU and the CPU for the largest remaining unit). Units on "cpu" or "disk" are streamed and run
// on the main GPU, as accelerate's offload hooks do (no prefetch).
// Options: low_zero=true (balanced_low_0), fill=sequential (device_map="sequential").
class BalancedStrategy final : public PlacementStrategy {
 public:
  Placement plan(const PlanRequest& request) const override;
  static std::vector<StrategyOptionInfo> options() {
    return {{"low_zero", "true|false",
             "keep the first GPU as free as possible, as accelerate's balanced_low_0 (default false)"},
            {"fill", "balanced|sequential",
             "balanced budgets per GPU, or fill each GPU in turn as device_map=\"sequential\" (default balanced)"}};
  }
};

}  // namespace vramguard::strategies
