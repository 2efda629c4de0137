#include "multi_gpu/multi_gpu_strategy.hpp"

#include <algorithm>
#include <numeric>

#include <vramguard/byte_size.hpp>
#include <vramguard/plan_helpers.hpp>
#include <vramguard/plan_rules.hpp>

namespace vramguard::strategies {
namespace {

constexpr const char* kName = "multi-gpu";

struct Split {
  std::vector<int> gpu_of_item;  // -1: streamed
  std::vector<std::uint64_t> resident;
  std::uint64_t largest_streamed = 0;
};

// Consecutive items fill GPU g up to its share of the model (never past its capacity); the last GPU
// also keeps `window` bytes free for streaming what is left over.
Split split(const std::vector<PlanItem>& items, const std::vector<const DeviceInfo*>& gpus,
            const std::vector<double>& weights, std::uint64_t window) {
  std::uint64_t total = 0;
  for (const auto& item : items) total += item.allocated_bytes;
  const double weight_sum = std::accumulate(weights.begin(), weights.end(), 0.0);
  Split result{std::vector<int>(items.size(), -1), std::vector<std::uint64_t>(gpus.size(), 0), 0};
  const std::size_t last = gpus.size() - 1;
  std::size_t g = 0;
  for (std::size_t i = 0; i < items.size(); ++i) {
    const std::uint64_t size = items[i].allocated_bytes;
    while (true) {
      const std::uint64_t capacity =
          gpus[g]->usable_bytes > (g == last ? window : 0) ? gpus[g]->usable_bytes - (g == last ? window : 0) : 0;
      const double share = static_cast<double>(total) * weights[g] / weight_sum;
      const bool fits = result.resident[g] + size <= capacity;
      // Past the middle of the item beyond the share: the next GPU is the better home for it.
      const bool within_share = static_cast<double>(result.resident[g]) + static_cast<double>(size) / 2 <= share;
      if (fits && (within_share || g == last)) {
        result.gpu_of_item[i] = static_cast<int>(g);
        result.resident[g] += size;
        break;
      }
      if (g == last) {
        result.largest_streamed = std::max(result.largest_streamed, items[i].largest_slot_bytes);
        break;
      }
      ++g;
    }
  }
  return result;
}

}  // namespace

Placement MultiGpuStrategy::plan(const PlanRequest& request) const {
  require_known_options(request.options, {"split", "prefetch"}, kName);
  PlanContext context(request);
  std::vector<const DeviceInfo*> gpus;
  for (const auto* gpu : context.gpus())
    if (gpu->usable_bytes > 0) gpus.push_back(gpu);
  if (gpus.empty()) throw NoFitError(kName, "no GPU has usable memory", {});
  const int prefetch = static_cast<int>(option_integer(request.options, "prefetch", 1, 0, kMaxPrefetchDepth));
  std::vector<double> weights;
  if (const auto given = option_number_list(request.options, "split")) {
    if (given->size() != gpus.size())
      throw InvalidStrategyOption("split", request.options.at("split"),
                                  std::to_string(gpus.size()) + " weights, one per GPU with usable memory");
    weights = *given;
  } else {
    for (const auto* gpu : gpus) weights.push_back(static_cast<double>(gpu->usable_bytes));
  }

  // The window on the last GPU depends on what streams, which depends on the window: iterate to a
  // fixed point (the window only grows, so this ends), bounded by the largest item.
  const auto& items = context.items();
  std::uint64_t window = 0;
  Split result = split(items, gpus, weights, window);
  for (int round = 0; round < 32; ++round) {
    const std::uint64_t needed =
        result.largest_streamed ? streaming_window_bytes(result.largest_streamed, prefetch) : 0;
    if (needed <= window) break;
    window = needed;
    result = split(items, gpus, weights, window);
  }
  const DeviceInfo& last = *gpus.back();
  const std::uint64_t final_window =
      result.largest_streamed ? streaming_window_bytes(result.largest_streamed, prefetch) : 0;
  if (result.resident.back() + final_window > last.usable_bytes)
    throw NoFitError(kName, "a streaming window of " + format_bytes(final_window) + " does not fit on " + last.name(),
                     {{last.id, result.resident.back() + final_window}});

  HostStorage host(context);
  std::uint64_t streamed = 0, to_stream = 0;
  for (std::size_t i = 0; i < items.size(); ++i)
    if (result.gpu_of_item[i] < 0) to_stream += items[i].bytes;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (result.gpu_of_item[i] >= 0) {
      const DeviceId gpu = gpus[static_cast<std::size_t>(result.gpu_of_item[i])]->id;
      context.place(items[i], gpu, PlacementMode::resident, gpu);
      continue;
    }
    const auto storage = host.take(items[i].bytes);
    if (!storage)
      throw NoFitError(kName,
                       "the weights left after the GPUs (" + format_bytes(to_stream) + ") do not fit in host memory",
                       {{DeviceId::host(), to_stream}});
    context.place(items[i], *storage, PlacementMode::streamed, last.id);
    streamed += items[i].bytes;
  }

  std::string explanation = "layer split across";
  for (std::size_t g = 0; g < gpus.size(); ++g)
    explanation += (g ? ", " : " ") + gpus[g]->name() + " (" + format_gb(result.resident[g]) + " GB)";
  explanation +=
      request.options.count("split") ? " as split=" + request.options.at("split") : " in proportion to usable memory";
  if (gpus.size() == 1)
    explanation = "needs two GPUs to split a model across, and only " + last.name() +
                  " has usable memory: it places like balanced here (every resident unit on " + last.name() + ")";
  if (streamed) explanation += "; " + format_bytes(streamed) + " streamed on " + last.name();
  std::map<std::string, std::string> settings;
  if (request.options.count("split")) settings["split"] = request.options.at("split");
  return context.finish(kName, prefetch, explanation, settings);
}

}  // namespace vramguard::strategies
