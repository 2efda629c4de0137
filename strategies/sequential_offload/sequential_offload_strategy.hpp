#pragma once
#include <vramguard/strategy.hpp>

namespace vramguard::strategies {

// The least VRAM: every unit's weights live in pinned host memory (then the page cache, when RAM is
// short) and are streamed into a rotating window on one GPU, `prefetch` units ahead.
// Options: prefetch=N (default 1), keep_resident=N (the first N units stay on the GPU), gpu=K.
class SequentialOffloadStrategy final : public PlacementStrategy {
 public:
  Placement plan(const PlanRequest& request) const override;
};

}  // namespace vramguard::strategies
