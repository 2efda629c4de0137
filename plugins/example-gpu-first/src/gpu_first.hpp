#pragma once
#include <vramguard/strategy.hpp>

namespace gpu_first {

// Fills GPUs in index order, unit by unit in forward order; what no GPU can hold is streamed from
// CPU memory and executed on the first GPU. Units that share weights (a tie group) go together.
class GpuFirstStrategy final : public vramguard::PlacementStrategy {
 public:
  vramguard::Placement plan(const vramguard::PlanRequest& request) const override;
};

}  // namespace gpu_first
