#pragma once
// The rules every plan must keep, checked by the host before a plan costs memory, and callable from a
// plugin's own tests (docs/writing-a-plugin.md explains each):
//   - every unit of the model placed exactly once, and nothing else;
//   - units that share weights (a tie group) stored on one device;
//   - resident: stored on the GPU it executes on; streamed: stored on cpu or disk, executed on a GPU;
//     cpu: stored on and executed on the CPU, and only where the budget allows CPU compute;
//   - on each GPU, resident units (each rounded as the allocator rounds it: allocated_bytes) plus the
//     streaming window ((prefetch_depth + 1) × the largest streamed unit executing there) within
//     usable_bytes, which already leaves out the context, the activation headroom and the reserve;
//   - on the CPU, host-held bytes within its usable bytes; streamed weights held on the host within
//     the pinned cap; prefetch_depth from 0 to 16.
#include <string>
#include <vector>

#include "vramguard/cost_model.hpp"

namespace vramguard {

inline constexpr int kMaxPrefetchDepth = 16;

struct PlanCheck {
  std::vector<std::string> violations;  // each a sentence naming the unit or device and the figures
  Prediction prediction;                // what the plan costs, by the cost model
  bool ok() const { return violations.empty(); }
};

PlanCheck check_plan(const ModelGraph& model, const DeviceBudget& budget, const Workload& workload,
                     const Placement& placement);

}  // namespace vramguard
