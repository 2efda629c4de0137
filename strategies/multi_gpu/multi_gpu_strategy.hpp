#pragma once
#include <vector>

#include <vramguard/strategy.hpp>

namespace vramguard::strategies {

// A layer split across all GPUs: consecutive units go to each GPU in proportion to its usable memory
// (or to split=3,1), each GPU runs its own units and activations hop between them. What still does
// not fit is streamed from host memory into a window on the last GPU, `prefetch` units ahead.
// Options: split=W0,W1,... (one positive weight per GPU), prefetch=N (default 1).
class MultiGpuStrategy final : public PlacementStrategy {
 public:
  Placement plan(const PlanRequest& request) const override;
  static std::vector<StrategyOptionInfo> options() {
    return {{"split", "W0,W1,...", "each GPU's share of the layers (default: in proportion to usable memory)"},
            {"prefetch", "0-16", "streamed units copied ahead on the last GPU, for what does not fit (default 1)"}};
  }
};

}  // namespace vramguard::strategies
