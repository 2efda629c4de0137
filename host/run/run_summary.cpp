#include "run/run_summary.hpp"

#include <algorithm>
#include <cstdio>

#include "core/text.hpp"
#include "vramguard/byte_size.hpp"

namespace vramguard {
namespace {

double percentile(std::vector<double> values, double fraction) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const auto index = static_cast<std::size_t>(fraction * static_cast<double>(values.size() - 1) + 0.5);
  return values[std::min(index, values.size() - 1)];
}

std::string percent(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.0f %%", value * 100);
  return buffer;
}

}  // namespace

RunSummary summarize_run(const RunOutcome& outcome, const Prediction& prediction, const DeviceBudget& budget) {
  RunSummary s;
  s.architecture = outcome.architecture;
  s.component = outcome.component;
  s.entry = outcome.entry;
  s.batch = outcome.batch;
  s.tokens = outcome.tokens;
  s.steps = outcome.steps.size();
  if (outcome.steps.empty()) return s;
  s.first_step_seconds = outcome.steps.front().seconds;
  // Steady state: every step after the first (which also fills the window from cold) where there are any.
  std::vector<double> seconds, compute, copy_wait;
  std::vector<std::uint64_t> streamed;
  for (std::size_t i = outcome.steps.size() > 1 ? 1 : 0; i < outcome.steps.size(); ++i) {
    seconds.push_back(outcome.steps[i].seconds);
    compute.push_back(outcome.steps[i].compute_seconds);
    copy_wait.push_back(outcome.steps[i].copy_wait_seconds);
    if (i > 0) s.unprefetched_units_after_first += outcome.steps[i].unprefetched_units;
    streamed.push_back(outcome.steps[i].streamed_bytes);
  }
  s.median_step_seconds = percentile(seconds, 0.5);
  s.p95_step_seconds = percentile(seconds, 0.95);
  s.median_compute_seconds = percentile(compute, 0.5);
  s.median_copy_wait_seconds = percentile(copy_wait, 0.5);
  std::sort(streamed.begin(), streamed.end());
  s.streamed_bytes_per_step = streamed[streamed.size() / 2];
  if (s.median_step_seconds > 0) {
    s.tokens_per_second = static_cast<double>(s.batch * s.tokens) / s.median_step_seconds;
    s.achieved_bytes_per_s = static_cast<double>(s.streamed_bytes_per_step) / s.median_step_seconds;
  }
  const auto gpus = budget.gpus();
  const double link = gpus.empty() || gpus.front()->host_to_device_bytes_per_s <= 0
                          ? default_cost_constants().default_host_to_device_bytes_per_s
                          : gpus.front()->host_to_device_bytes_per_s;
  s.copy_bound_seconds = static_cast<double>(s.streamed_bytes_per_step) / link;
  if (s.median_step_seconds > 0)
    s.overlap_efficiency = std::max(s.median_compute_seconds, s.copy_bound_seconds) / s.median_step_seconds;
  for (const auto& cp : prediction.components)
    if (cp.component == outcome.component) s.predicted_step_seconds = cp.step_seconds;
  for (const auto& [device, measured] : outcome.peak_bytes) {
    const DevicePrediction* d = prediction.find(device);
    s.peaks[device] = {d ? d->resident_bytes + d->window_bytes + d->headroom_bytes : 0, measured};
  }
  return s;
}

nlohmann::json run_summary_json(const RunSummary& s) {
  nlohmann::json peaks = nlohmann::json::object();
  for (const auto& [device, peak] : s.peaks)
    peaks[device.str()] = {{"predicted_bytes", peak.predicted_bytes}, {"measured_bytes", peak.measured_bytes}};
  return {{"architecture", s.architecture},
          {"component", s.component},
          {"entry", s.entry},
          {"batch", s.batch},
          {"tokens", s.tokens},
          {"steps", s.steps},
          {"first_step_seconds", s.first_step_seconds},
          {"median_step_seconds", s.median_step_seconds},
          {"p95_step_seconds", s.p95_step_seconds},
          {"tokens_per_second", s.tokens_per_second},
          {"median_compute_seconds", s.median_compute_seconds},
          {"median_copy_wait_seconds", s.median_copy_wait_seconds},
          {"unprefetched_units_after_first", s.unprefetched_units_after_first},
          {"streamed_bytes_per_step", s.streamed_bytes_per_step},
          {"achieved_host_to_device_bytes_per_s", s.achieved_bytes_per_s},
          {"copy_bound_seconds", s.copy_bound_seconds},
          {"overlap_efficiency", s.overlap_efficiency},
          {"predicted_step_seconds", s.predicted_step_seconds},
          {"peak_bytes", peaks}};
}

void print_run_summary(const RunSummary& s, bool simulated, std::ostream& out) {
  out << "\nRan " << s.component << " (" << s.architecture << ", " << s.entry << "): " << s.steps << " steps of batch "
      << s.batch;
  if (s.tokens > 0) out << " × " << text::thousands(s.tokens) << " tokens";
  out << (simulated ? " (on the CPU, in the simulated GPUs' place)" : "") << "\n";
  out << "  step: first " << format_seconds(s.first_step_seconds) << ", median "
      << format_seconds(s.median_step_seconds) << ", p95 " << format_seconds(s.p95_step_seconds);
  if (s.tokens > 0) out << "; " << text::thousands(static_cast<std::uint64_t>(s.tokens_per_second)) << " tokens/s";
  out << "\n";
  out << "  predicted step " << format_seconds(s.predicted_step_seconds)
      << (simulated ? " (for the declared GPUs, not this CPU)" : "") << "\n";
  if (s.streamed_bytes_per_step > 0) {
    out << "  streamed " << format_bytes(s.streamed_bytes_per_step) << " per step at "
        << format_gb(static_cast<std::uint64_t>(s.achieved_bytes_per_s)) << " GB/s; compute "
        << format_seconds(s.median_compute_seconds) << ", copy bound " << format_seconds(s.copy_bound_seconds)
        << "; overlap efficiency " << percent(s.overlap_efficiency) << " (max of the two over the step)\n";
  }
  for (const auto& [device, peak] : s.peaks)
    out << "  " << device.str() << " peak: predicted " << format_bytes(peak.predicted_bytes) << ", measured "
        << format_bytes(peak.measured_bytes) << " (weights, window and activations; the context aside)\n";
}

}  // namespace vramguard
