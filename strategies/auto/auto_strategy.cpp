#include "auto/auto_strategy.hpp"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>
#include <optional>

#include <vramguard/byte_size.hpp>
#include <vramguard/cost_model.hpp>
#include <vramguard/plan_helpers.hpp>
#include <vramguard/plan_rules.hpp>

#include "multi_gpu/multi_gpu_strategy.hpp"
#include "sequential_offload/sequential_offload_strategy.hpp"

namespace vramguard::strategies {
namespace {

constexpr const char* kName = "auto";

struct Candidate {
  std::string label;
  Placement placement;
  double job_seconds = 0;  // the workload's job: a forward pass of each component, times its passes
};

std::optional<Placement> all_resident_on(const PlanRequest& request, const DeviceInfo& gpu) {
  PlanContext context(request);
  std::uint64_t total = 0;
  for (const auto& item : context.items()) total += item.allocated_bytes;
  if (total > gpu.usable_bytes) return std::nullopt;
  for (const auto& item : context.items()) context.place(item, gpu.id, PlacementMode::resident, gpu.id);
  return context.finish(kName, 0, "");
}

// Seconds the job loses to a unit being streamed rather than resident: per pass, the copy (prefetch
// hides it behind the previous unit's compute, so only the excess shows), times the passes the job
// makes through it (an edit's transformer runs 2 x steps times, its text encoder twice). The compute is
// the prediction's: fp8 matmuls hide less of a copy than bf16 ones.
double streaming_penalty(const PlanItem& item, const PlanContext& context, const DeviceInfo& gpu, int prefetch) {
  const double transfer = static_cast<double>(item.bytes) / host_to_device_bytes_per_s(&gpu);
  const double compute = context.pass_gpu_seconds(item, gpu);
  const double per_pass = prefetch > 0 ? std::max(0.0, transfer - compute) : transfer;
  return per_pass * static_cast<double>(context.passes(item));
}

// "per forward pass", or for a job with several passes through a component, what it counts.
std::string per_what(const Workload& workload) {
  std::string passes;
  for (const auto& [component, work] : workload.components)
    if (work.passes != 1) passes += (passes.empty() ? "" : ", ") + component + " x" + std::to_string(work.passes);
  return passes.empty() ? "per forward pass" : "per job (" + passes + ")";
}

// Bit-reversed `rank` as a fraction of [0, 1): 0, 1/2, 1/4, 3/4, 1/8... Any first k of them lie about
// evenly over the interval.
double van_der_corput(std::size_t rank) {
  double value = 0, scale = 0.5;
  for (; rank > 0; rank >>= 1, scale /= 2)
    if (rank & 1) value += scale;
  return value;
}

// Items by priority, highest first; items of equal priority (a model's identical blocks) in an order
// whose every prefix is spread evenly over them. Whatever prefix fits stays resident, so resident blocks
// end up interleaved with streamed ones, and the copy engine keeps filling the window while they
// compute. Kept in graph order, the resident blocks would all come first: the window fills during the
// first of them and the link idles for the rest (measured on an H200 for the full-size MMDiT under the
// RTX 4080 config: 1.14x the copy bound, against 1.02x for all blocks streamed).
std::vector<std::size_t> spread_ties(const std::vector<double>& priorities) {
  std::map<double, std::vector<std::size_t>, std::greater<>> by_priority;
  for (std::size_t i = 0; i < priorities.size(); ++i) by_priority[priorities[i]].push_back(i);
  std::vector<std::size_t> order;
  for (auto& [priority, tied] : by_priority) {
    std::vector<std::size_t> ranks(tied.size());
    for (std::size_t r = 0; r < ranks.size(); ++r) ranks[r] = r;
    std::stable_sort(ranks.begin(), ranks.end(),
                     [](std::size_t a, std::size_t b) { return van_der_corput(a) < van_der_corput(b); });
    for (std::size_t r : ranks) order.push_back(tied[r]);
  }
  return order;
}

// As many items resident on `gpu` as fit beside the streaming window, chosen by `priority`; the rest
// streamed from host memory with prefetch.
std::optional<Placement> partially_resident(
    const PlanRequest& request, const DeviceInfo& gpu, int prefetch,
    const std::function<double(const PlanItem&, const PlanContext&)>& priority) {
  PlanContext context(request);
  const auto& items = context.items();
  std::vector<double> priorities;
  for (const auto& item : items) priorities.push_back(priority(item, context));
  const std::vector<std::size_t> order = spread_ties(priorities);
  std::vector<bool> resident(items.size(), false);
  std::uint64_t resident_bytes = 0;
  auto window_without = [&]() {
    std::uint64_t largest = 0;
    for (std::size_t i = 0; i < items.size(); ++i)
      if (!resident[i]) largest = std::max(largest, items[i].largest_slot_bytes);
    return largest ? streaming_window_bytes(largest, prefetch) : 0;
  };
  for (std::size_t i : order) {
    resident[i] = true;
    if (resident_bytes + items[i].allocated_bytes + window_without() <= gpu.usable_bytes)
      resident_bytes += items[i].allocated_bytes;
    else resident[i] = false;
  }
  if (resident_bytes + window_without() > gpu.usable_bytes) return std::nullopt;
  if (!place_on_gpu_streaming_the_rest(context, resident, gpu)) return std::nullopt;
  return context.finish(kName, prefetch, "");
}

std::optional<Placement> all_on_cpu(const PlanRequest& request) {
  const DeviceInfo* cpu = request.budget.cpu();
  if (!request.budget.allow_cpu_compute || cpu == nullptr) return std::nullopt;
  PlanContext context(request);
  std::uint64_t total = 0;
  for (const auto& item : context.items()) total += item.bytes;
  if (total > cpu->usable_bytes) return std::nullopt;
  for (const auto& item : context.items()) context.place(item, DeviceId::host(), PlacementMode::cpu, DeviceId::host());
  return context.finish(kName, 0, "");
}

std::optional<Placement> from_strategy(const PlacementStrategy& strategy, const PlanRequest& request,
                                       const StrategyOptions& options) {
  try {
    return strategy.plan({request.model, request.budget, request.workload, options});
  } catch (const NoFitError&) {
    return std::nullopt;  // that candidate does not fit; the others may
  }
}

}  // namespace

Placement AutoStrategy::plan(const PlanRequest& request) const {
  require_known_options(request.options, {"prefetch"}, kName);
  const int prefetch = static_cast<int>(option_integer(request.options, "prefetch", 1, 0, kMaxPrefetchDepth));
  const auto gpus = request.budget.gpus();

  std::vector<Candidate> candidates;
  auto consider = [&](std::string label, std::optional<Placement> placement) {
    if (!placement) return;
    const Prediction prediction = predict(request.model, request.budget, *placement, request.workload);
    for (const auto& device : prediction.devices)
      if (!device.fits) return;
    candidates.push_back({std::move(label), std::move(*placement), prediction.job_seconds});
  };

  for (const auto* gpu : gpus) consider("everything resident on " + gpu->name(), all_resident_on(request, *gpu));
  if (gpus.size() > 1) {
    auto split = from_strategy(MultiGpuStrategy(), request, {{"prefetch", std::to_string(prefetch)}});
    bool streams = false;
    if (split)
      for (const auto& u : split->units) streams = streams || u.mode == PlacementMode::streamed;
    consider(streams ? "a layer split across the GPUs, the rest streamed" : "a layer split across the GPUs",
             std::move(split));
  }
  if (!gpus.empty()) {
    const DeviceInfo* roomiest = *std::max_element(
        gpus.begin(), gpus.end(), [](const auto* a, const auto* b) { return a->usable_bytes < b->usable_bytes; });
    consider("as much resident on " + roomiest->name() +
                 " as fits (costliest to stream first), the rest streamed with prefetch",
             partially_resident(request, *roomiest, prefetch, [&](const PlanItem& item, const PlanContext& context) {
               return streaming_penalty(item, context, *roomiest, prefetch) /
                      static_cast<double>(std::max<std::uint64_t>(1, item.allocated_bytes));
             }));
    consider("as much resident on " + roomiest->name() + " as fits (largest first), the rest streamed with prefetch",
             partially_resident(request, *roomiest, prefetch, [](const PlanItem& item, const PlanContext&) {
               return static_cast<double>(item.allocated_bytes);
             }));
    const std::string roomiest_index = std::to_string(std::find(gpus.begin(), gpus.end(), roomiest) - gpus.begin());
    consider("every unit streamed with prefetch",
             from_strategy(SequentialOffloadStrategy(), request,
                           {{"prefetch", std::to_string(prefetch)}, {"gpu", roomiest_index}}));
    if (prefetch > 0)
      consider("every unit streamed, one slot (no prefetch: least VRAM)",
               from_strategy(SequentialOffloadStrategy(), request, {{"prefetch", "0"}, {"gpu", roomiest_index}}));
  }
  consider("everything on the CPU (--allow-cpu-compute)", all_on_cpu(request));

  if (candidates.empty()) {
    if (gpus.empty())
      throw NoFitError(kName, "there is no GPU, and CPU compute is not allowed (--allow-cpu-compute)", {});
    // The least any candidate needs: one slot for the largest unit on the roomiest GPU, and room on the
    // host (pinned memory, or a disk to stream from) for everything.
    PlanContext context(request);
    std::uint64_t largest = 0, total = 0;
    for (const auto& item : context.items()) largest = std::max(largest, item.largest_slot_bytes), total += item.bytes;
    const DeviceInfo* roomiest = *std::max_element(
        gpus.begin(), gpus.end(), [](const auto* a, const auto* b) { return a->usable_bytes < b->usable_bytes; });
    if (largest > roomiest->usable_bytes)
      throw NoFitError(kName,
                       "not even one unit at a time fits on a GPU (the largest is " + format_bytes(largest) + ")",
                       {{roomiest->id, largest}});
    throw NoFitError(kName,
                     "host memory cannot hold the " + format_bytes(total) +
                         " of weights to stream, and there is no disk to stream from",
                     {{DeviceId::host(), total}});
  }
  std::stable_sort(candidates.begin(), candidates.end(),
                   [](const Candidate& a, const Candidate& b) { return a.job_seconds < b.job_seconds; });
  Candidate& best = candidates.front();
  std::string explanation =
      "chose " + best.label + ": predicted " + format_seconds(best.job_seconds) + " " + per_what(request.workload);
  if (candidates.size() > 1)
    explanation += " (next best: " + candidates[1].label + ", " + format_seconds(candidates[1].job_seconds) + ")";
  best.placement.strategy = kName;
  best.placement.explanation = explanation;
  return best.placement;
}

}  // namespace vramguard::strategies
