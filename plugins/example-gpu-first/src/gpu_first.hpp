#pragma once
#include <vector>

#include <vramguard/strategy.hpp>

namespace gpu_first {

// Fills GPUs in index order, unit by unit in forward order; what no GPU can hold is streamed from host
// memory (pinned RAM, then the page cache) and runs on the first GPU, which keeps room for the
// streaming window. Units that share weights (a tie group) go together.
// Options: prefetch=N (units copied ahead while one runs; default 1).
class GpuFirstStrategy final : public vramguard::PlacementStrategy {
 public:
  vramguard::Placement plan(const vramguard::PlanRequest& request) const override;
  // What `vramguard plugins` and `vramguard help plan` list for it.
  static std::vector<vramguard::StrategyOptionInfo> options() {
    return {{"prefetch", "0-16", "units copied ahead of the one computing on the first GPU (default 1)"}};
  }
};

}  // namespace gpu_first
