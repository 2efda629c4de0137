#pragma once
#include <vector>

#include <vramguard/strategy.hpp>

namespace vramguard::strategies {

// The least VRAM: every unit's weights live in pinned host memory (then the page cache, when RAM is
// short) and are streamed into a rotating window on one GPU, `prefetch` units ahead.
// Options: prefetch=N (default 1), keep_resident=N (the first N units stay on the GPU), gpu=K.
class SequentialOffloadStrategy final : public PlacementStrategy {
 public:
  Placement plan(const PlanRequest& request) const override;
  static std::vector<StrategyOptionInfo> options() {
    return {{"prefetch", "0-16", "units copied ahead of the one computing; each costs a window slot (default 1)"},
            {"keep_resident", "N", "the first N units stay resident on the GPU (default 0)"},
            {"gpu", "a GPU index", "the GPU that runs everything (default 0)"}};
  }
};

}  // namespace vramguard::strategies
