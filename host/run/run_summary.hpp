#pragma once
// What a run measured, set beside what the cost model predicted: per-step latency (first, median,
// p95), tokens per second, bytes streamed per step and the rate they came at, how well copies hid
// behind compute, and each GPU's peak.
#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <string>

#include <nlohmann/json.hpp>

#include "run/runtime_library.hpp"
#include "vramguard/cost_model.hpp"

namespace vramguard {

struct RunSummary {
  std::string architecture, component, entry;
  std::uint64_t batch = 0, tokens = 0, steps = 0;
  double first_step_seconds = 0, median_step_seconds = 0, p95_step_seconds = 0;
  double tokens_per_second = 0;       // batch × tokens ÷ median step (0 for image models)
  double median_compute_seconds = 0;  // the compute streams' own work
  std::uint64_t streamed_bytes_per_step = 0;
  double median_copy_wait_seconds = 0;               // the executor's thread waiting for fills to be issued
  std::uint64_t unprefetched_units_after_first = 0;  // streamed units copied on demand in the steps after the first
  double achieved_bytes_per_s = 0;                   // streamed bytes ÷ median step
  double copy_bound_seconds = 0;                     // streamed bytes ÷ the link's pinned bandwidth
  double overlap_efficiency = 0;                     // max(compute, copy bound) ÷ median step; 1 is perfect
  double predicted_step_seconds = 0;
  struct DevicePeak {
    std::uint64_t predicted_bytes = 0;  // resident + window + headroom
    std::uint64_t measured_bytes = 0;   // ours at most during the steps
  };
  std::map<DeviceId, DevicePeak> peaks;
};

RunSummary summarize_run(const RunOutcome& outcome, const Prediction& prediction, const DeviceBudget& budget);
nlohmann::json run_summary_json(const RunSummary& summary);
void print_run_summary(const RunSummary& summary, bool simulated, std::ostream& out);

}  // namespace vramguard
