#pragma once
#include <vramguard/strategy.hpp>

namespace vramguard::strategies {

// The fastest feasible placement by the cost model. Candidates: everything resident on one GPU; a
// layer split across GPUs; as many units resident as fit (those whose streaming would cost the most
// time first) with the rest streamed and prefetched; full streaming; CPU compute when allowed.
// Options: prefetch=N (default 1).
class AutoStrategy final : public PlacementStrategy {
 public:
  Placement plan(const PlanRequest& request) const override;
};

}  // namespace vramguard::strategies
