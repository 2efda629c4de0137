#include "engine/strategy_fit.hpp"

#include <algorithm>
#include <cstdio>

#include "core/stop_signal.hpp"
#include "guard/plan_validator.hpp"
#include "vramguard/byte_size.hpp"

namespace vramguard {

StrategyFit evaluate_strategy(const PluginRegistry& registry, const std::string& name, const ModelGraph& model,
                              const DeviceBudget& budget, const Workload& workload, const StrategyOptions& options) {
  StrategyFit fit;
  fit.strategy = name;
  try {
    const StrategyInstance strategy = registry.create(name);
    const Placement placement = strategy.plan({model, budget, workload, options}, &stop_flag());
    fit.prediction = validate_plan(model, budget, workload, placement, name);
    fit.fits = true;
    fit.why = placement.explanation;
  } catch (const NoFitError& e) {
    fit.why = "does not fit: " + e.reason();
    fit.minimum = e.minimum_bytes();
  } catch (const InvalidPlanError& e) {
    fit.why = e.what();
  } catch (const PluginError& e) {
    fit.why = e.what();
  }
  return fit;
}

std::optional<StrategyVerdict> pick_strategy(const std::vector<StrategyFit>& fits, const std::string& yours, bool job) {
  auto cost = [&](const StrategyFit& fit) {
    return job ? fit.prediction->ready_seconds + fit.prediction->job_seconds : fit.prediction->step_seconds;
  };
  auto peak = [](const StrategyFit& fit) {
    std::uint64_t bytes = 0;
    for (const auto& device : fit.prediction->devices)
      if (device.device.is_gpu()) bytes = std::max(bytes, device.peak_bytes);
    return bytes;
  };
  const std::string per = job ? " a job" : " a pass";
  const StrategyFit* best = nullptr;
  for (const auto& fit : fits)
    if (fit.fits && fit.prediction && (!best || cost(fit) < cost(*best))) best = &fit;
  if (best == nullptr) return std::nullopt;
  const std::string fastest = best->strategy + " (" + format_seconds(cost(*best)) + per + ", peak " +
                              format_gb(peak(*best)) + " GB on the fullest GPU)";
  const auto own = std::find_if(fits.begin(), fits.end(), [&](const StrategyFit& f) { return f.strategy == yours; });
  if (yours.empty() || own == fits.end())
    return StrategyVerdict{best->strategy, false, "Pick " + fastest + ": the fastest that fits."};
  if (!own->fits || !own->prediction)
    return StrategyVerdict{
        best->strategy, false,
        "Pick " + fastest + ": the fastest that fits; yours, " + yours + ", does not fit this budget."};
  if (own->strategy == best->strategy)
    return StrategyVerdict{yours, true,
                           "Keep " + yours + ": the fastest that fits (" + format_seconds(cost(*own)) + per + ")."};
  const double faster_percent = 100.0 * (cost(*own) - cost(*best)) / std::max(1e-12, cost(*own));
  char margin[32];
  std::snprintf(margin, sizeof margin, "%.1f %%", faster_percent);
  const std::string comparison = best->strategy + " is " + margin + " faster (" + format_seconds(cost(*best)) +
                                 " against " + format_seconds(cost(*own)) + per + ")";
  if (cost(*own) <= cost(*best) * (1 + kStrategyTieFraction))
    return StrategyVerdict{yours, true, "Keep " + yours + ": " + comparison + ", a tie within 2 %."};
  return StrategyVerdict{best->strategy, false,
                         "Pick " + fastest + ": " + comparison + " than yours, " + yours +
                             (peak(*best) > peak(*own) ? ", for more GPU memory." : ", with no more GPU memory.")};
}

}  // namespace vramguard
