#pragma once
// Alerts when a GPU's used memory crosses a threshold, and when it comes back below: a percentage of
// the card ("90%") or a size ("14GB").
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "monitor/gpu_source.hpp"

namespace vramguard {

struct Threshold {
  std::optional<double> fraction;  // of the card's memory
  std::optional<std::uint64_t> bytes;
  std::uint64_t bytes_for(std::uint64_t total) const;
  std::string text() const;  // as given: "90%" or "14.00 GB"
};
// UsageError naming the value when it is neither.
Threshold parse_threshold(const std::string& text);

struct AlertEvent {
  double time = 0;  // seconds since the epoch
  int gpu = 0;
  std::string name;
  bool above = true;  // crossed upward (else came back below)
  std::uint64_t used_bytes = 0, total_bytes = 0, threshold_bytes = 0;
};
nlohmann::json alert_json(const AlertEvent& event);

class AlertTracker {
 public:
  explicit AlertTracker(Threshold threshold) : threshold_(threshold) {}
  // The crossings since the last reading; the first reading above the threshold counts as one.
  std::vector<AlertEvent> update(double time, const std::vector<GpuReading>& readings);
  const Threshold& threshold() const { return threshold_; }
  std::uint64_t fired(int gpu) const;  // upward crossings so far
  bool active(int gpu) const;

 private:
  Threshold threshold_;
  std::map<int, bool> above_;
  std::map<int, std::uint64_t> fired_;
};

}  // namespace vramguard
