#pragma once
// Two passes of one component at once, one on each of two GPUs (true CFG's positive and negative
// transformer passes: CFG-parallel), as a planning choice. The one load plans every GPU together (a
// layer split, or everything on one GPU, its passes apart or as a batch); the parallel way is two loads:
// the component alone on one GPU, and the whole model on the others, each with its own plan (resident,
// or streamed through its own window). Both are planned and predicted before anything loads, and the
// job's time of the component's passes decides: the one load's, against the slower of the two GPUs'.
#include <optional>
#include <string>
#include <vector>

#include "request/load_request.hpp"
#include "vramguard/cost_model.hpp"

namespace vramguard {

// What the job asks of the component, one way and the other: each way's headroom (activations and
// workspaces; unset: the planner's estimate from the work) and the component's work in it.
struct ParallelPassesDemands {
  std::string component;
  std::optional<std::uint64_t> one_load_headroom_bytes;  // the one load's: the job's largest call
  Workload one_load_work;                                // each component's passes, both of the component's in one load
  std::optional<std::uint64_t> first_headroom_bytes;     // the first load's, with one of the component's passes a step
  Workload first_work;
  std::optional<std::uint64_t> second_headroom_bytes;  // the second GPU's: one pass of the component
};

// A planned job's demands for `component`'s passes two at once (compare --cfg-parallel): its passes in
// the request's work split over the two loads, each way's headroom the planner's estimate.
ParallelPassesDemands halved_passes(const LoadRequest& request, const std::string& component);

// `automatic`: two loads where two GPUs are there and the plans predict them faster than the one load;
// `on`: wherever two GPUs are; `off`: never.
enum class ParallelPassesMode : std::uint8_t { automatic, on, off };

struct ParallelPassesChoice {
  bool parallel = false;
  std::string why;  // one line: what was weighed, or why it was not
  // The component's passes over the job, as each way's plan predicts them (0: not planned).
  double one_load_seconds = 0;
  double parallel_seconds = 0;               // the slower GPU's
  std::optional<LoadRequest> first, second;  // the two loads, when parallel
};

// The job's seconds of `component`'s passes under a plan's prediction (0 where it has none).
double component_job_seconds(const Prediction& prediction, const std::string& component);

// `request` with a job's demands applied: `headroom_bytes` unless the user set --headroom, and the
// components' work.
LoadRequest with_demands(LoadRequest request, std::optional<std::uint64_t> headroom_bytes, const Workload& work);

// Weighs the two ways for `base` (the request as the user gave it) and returns the choice, with the two
// loads' requests where it is parallel: the last of the GPUs the request may use holds the component
// alone, the others the whole model. `on` refuses (UsageError) where fewer than two GPUs are there or
// the parallel plans do not fit; `automatic` then keeps the one load, saying why.
ParallelPassesChoice choose_parallel_passes(const LoadRequest& base, const ParallelPassesDemands& demands,
                                            ParallelPassesMode mode);

}  // namespace vramguard
