#include "gpu_first.hpp"

#include <algorithm>

#include <vramguard/sdk.hpp>

namespace gpu_first {

using namespace vramguard;

namespace {

constexpr const char* kName = "gpu-first";

// Items that fit on the GPUs in order, each GPU filled up to `capacity[g]`; -1 for those that do not.
std::vector<int> fill_in_order(const std::vector<PlanItem>& items, const std::vector<std::uint64_t>& capacity) {
  std::vector<int> gpu_of(items.size(), -1);
  std::vector<std::uint64_t> used(capacity.size(), 0);
  std::size_t g = 0;
  for (std::size_t i = 0; i < items.size(); ++i) {
    // The plan rules count allocator-rounded bytes: PlanItem::allocated_bytes, not the raw unit bytes.
    while (g < capacity.size() && used[g] + items[i].allocated_bytes > capacity[g]) ++g;
    if (g == capacity.size()) continue;  // later, smaller items may still fit on the last GPU tried
    used[g] += items[i].allocated_bytes;
    gpu_of[i] = static_cast<int>(g);
  }
  return gpu_of;
}

}  // namespace

Placement GpuFirstStrategy::plan(const PlanRequest& request) const {
  require_known_options(request.options, {"prefetch"}, kName);
  const int prefetch = static_cast<int>(option_integer(request.options, "prefetch", 1, 0, kMaxPrefetchDepth));
  PlanContext context(request);  // units in forward order, tie groups as single items
  const auto gpus = context.gpus();
  if (gpus.empty()) throw NoFitError(kName, "there is no GPU in the budget", {});
  const auto& items = context.items();

  // What streams needs a window on the first GPU: (prefetch + 1) slots for the largest streamed item.
  // The window depends on what streams, and what streams on the room the window leaves: reserve it for
  // the largest streamed item and fill again until nothing changes (the reserve only grows).
  std::uint64_t window = 0;
  std::vector<int> gpu_of;
  for (int round = 0; round < 64; ++round) {
    std::vector<std::uint64_t> capacity;
    for (const auto* gpu : gpus) capacity.push_back(gpu->usable_bytes);
    capacity[0] = capacity[0] > window ? capacity[0] - window : 0;
    gpu_of = fill_in_order(items, capacity);
    std::uint64_t largest_streamed = 0;
    for (std::size_t i = 0; i < items.size(); ++i)
      if (gpu_of[i] < 0) largest_streamed = std::max(largest_streamed, items[i].largest_slot_bytes);
    const std::uint64_t needed = largest_streamed ? streaming_window_bytes(largest_streamed, prefetch) : 0;
    if (needed <= window) break;
    window = needed;
  }
  if (window > gpus.front()->usable_bytes)
    throw NoFitError(kName,
                     "the streaming window (" + format_bytes(window) + ") does not fit on " + gpus.front()->name(),
                     {{gpus.front()->id, window}});

  // Streamed items live in host memory: pinned RAM while it lasts, then the page cache.
  HostStorage host(context);
  std::uint64_t to_stream = 0;
  for (std::size_t i = 0; i < items.size(); ++i)
    if (gpu_of[i] < 0) to_stream += items[i].bytes;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (gpu_of[i] >= 0) {
      const DeviceId gpu = gpus[static_cast<std::size_t>(gpu_of[i])]->id;
      context.place(items[i], gpu, PlacementMode::resident, gpu);
      continue;
    }
    const auto storage = host.take(items[i].bytes);
    if (!storage)
      throw NoFitError(kName,
                       "the units the GPUs cannot hold (" + format_bytes(to_stream) + ") do not fit in host memory",
                       {{DeviceId::host(), to_stream}});
    context.place(items[i], *storage, PlacementMode::streamed, gpus.front()->id);
  }
  return context.finish(kName, prefetch,
                        to_stream == 0 ? "every unit fits on the GPUs, filled in order"
                                       : "GPUs filled in order; " + format_bytes(to_stream) +
                                             " streamed from host memory on " + gpus.front()->name());
}

}  // namespace gpu_first
