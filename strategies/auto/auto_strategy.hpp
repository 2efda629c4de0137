#pragma once
#include <vector>

#include <vramguard/strategy.hpp>

namespace vramguard::strategies {

// The fastest feasible placement by the cost model. Candidates: everything resident on one GPU; a
// layer split across GPUs; as many units resident as fit (those whose streaming would cost the most
// time first) with the rest streamed and prefetched; full streaming; CPU compute when allowed.
// Options: prefetch=N (default 1).
class AutoStrategy final : public PlacementStrategy {
 public:
  Placement plan(const PlanRequest& request) const override;
  static std::vector<StrategyOptionInfo> options() {
    return {{"prefetch", "0-16",
             "streamed units copied ahead of the one computing, in the candidates that stream (default 1)"}};
  }
};

}  // namespace vramguard::strategies
