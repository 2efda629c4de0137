#include "sequential_offload/sequential_offload_strategy.hpp"

#include <algorithm>

#include <vramguard/byte_size.hpp>
#include <vramguard/plan_helpers.hpp>
#include <vramguard/plan_rules.hpp>

namespace vramguard::strategies {
namespace {
constexpr const char* kName = "sequential-offload";
}

Placement SequentialOffloadStrategy::plan(const PlanRequest& request) const {
  require_known_options(request.options, {"prefetch", "keep_resident", "gpu"}, kName);
  PlanContext context(request);
  const auto gpus = context.gpus();
  if (gpus.empty()) throw NoFitError(kName, "there is no GPU to stream to", {});
  const int prefetch = static_cast<int>(option_integer(request.options, "prefetch", 1, 0, kMaxPrefetchDepth));
  const auto keep = static_cast<std::size_t>(option_integer(request.options, "keep_resident", 0, 0, 1'000'000));
  const auto gpu_index =
      static_cast<std::size_t>(option_integer(request.options, "gpu", 0, 0, static_cast<long long>(gpus.size()) - 1));
  const DeviceInfo& gpu = *gpus[gpu_index];

  // Units kept resident: every item holding one of the first `keep` units.
  const auto& items = context.items();
  std::vector<bool> resident(items.size(), false);
  std::uint64_t resident_bytes = 0, largest_streamed = 0, streamed_bytes = 0;
  for (std::size_t i = 0; i < items.size(); ++i) {
    resident[i] = items[i].units.front() < keep;
    if (resident[i]) resident_bytes += items[i].allocated_bytes;
    else largest_streamed = std::max(largest_streamed, items[i].largest_slot_bytes), streamed_bytes += items[i].bytes;
  }
  const std::uint64_t window = streaming_window_bytes(largest_streamed, prefetch);
  if (resident_bytes + window > gpu.usable_bytes) {
    const std::string why =
        keep > 0 ? "keeping the first " + std::to_string(keep) + " units resident (" + format_bytes(resident_bytes) +
                       ") next to a " + std::to_string(prefetch + 1) + "-slot window (" + format_bytes(window) +
                       ") does not fit in " + format_bytes(gpu.usable_bytes) + " usable on " + gpu.name()
                 : "a " + std::to_string(prefetch + 1) + "-slot streaming window for the largest unit (" +
                       format_bytes(window) + ") does not fit in " + format_bytes(gpu.usable_bytes) + " usable on " +
                       gpu.name() + (prefetch > 0 ? " (try prefetch=0)" : "");
    throw NoFitError(kName, why, {{gpu.id, resident_bytes + window}});
  }

  const auto pinned = place_on_gpu_streaming_the_rest(context, resident, gpu);
  if (!pinned)
    throw NoFitError(kName, "the streamed weights (" + format_bytes(streamed_bytes) + ") do not fit in host memory",
                     {{DeviceId::host(), streamed_bytes}});
  std::string explanation = "every unit streamed into a " + std::to_string(prefetch + 1) + "-slot window on " +
                            gpu.name() + " (" + format_bytes(window) + ")";
  if (keep > 0) explanation += ", the first " + std::to_string(keep) + " units kept resident";
  if (*pinned < streamed_bytes) explanation += "; RAM is short, so some weights stream from the page cache";
  return context.finish(kName, prefetch, explanation, {{"keep_resident", std::to_string(keep)}, {"gpu", gpu.name()}});
}

}  // namespace vramguard::strategies
