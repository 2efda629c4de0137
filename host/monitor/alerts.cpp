#include "monitor/alerts.hpp"

#include "core/errors.hpp"
#include "vramguard/byte_size.hpp"

namespace vramguard {

std::uint64_t Threshold::bytes_for(std::uint64_t total) const {
  if (bytes) return *bytes;
  return static_cast<std::uint64_t>(static_cast<double>(total) * fraction.value_or(1.0));
}

std::string Threshold::text() const {
  if (bytes) return format_bytes(*bytes);
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%g%%", fraction.value_or(1.0) * 100);
  return buffer;
}

Threshold parse_threshold(const std::string& text) {
  const std::string example = "e.g. --alert-above 90% or --alert-above 14GB";
  Threshold t;
  if (!text.empty() && text.back() == '%') {
    const std::string number = text.substr(0, text.size() - 1);
    double percent = -1;
    try {
      std::size_t used = 0;
      percent = std::stod(number, &used);
      if (used != number.size()) percent = -1;
    } catch (const std::exception&) {
      percent = -1;
    }
    if (!(percent > 0 && percent <= 100))
      throw UsageError("--alert-above '" + text + "': a percentage must be more than 0 and at most 100", example);
    t.fraction = percent / 100;
    return t;
  }
  try {
    t.bytes = parse_byte_size(text);
  } catch (const InvalidByteSize& e) {
    throw UsageError("--alert-above '" + text + "': " + e.what(), example);
  }
  if (*t.bytes == 0) throw UsageError("--alert-above '" + text + "': the threshold must be more than 0", example);
  return t;
}

nlohmann::json alert_json(const AlertEvent& e) {
  return {{"type", "alert"},
          {"time", e.time},
          {"gpu", e.gpu},
          {"name", e.name},
          {"state", e.above ? "above" : "below"},
          {"used_bytes", e.used_bytes},
          {"total_bytes", e.total_bytes},
          {"threshold_bytes", e.threshold_bytes}};
}

std::vector<AlertEvent> AlertTracker::update(double time, const std::vector<GpuReading>& readings) {
  std::vector<AlertEvent> events;
  for (const auto& r : readings) {
    const std::uint64_t limit = threshold_.bytes_for(r.total_bytes);
    const bool above = r.used_bytes >= limit;
    const auto it = above_.find(r.index);
    const bool was = it != above_.end() && it->second;
    if (above != was && (it != above_.end() || above)) {
      events.push_back({time, r.index, r.name, above, r.used_bytes, r.total_bytes, limit});
      if (above) ++fired_[r.index];
    }
    above_[r.index] = above;
  }
  return events;
}

std::uint64_t AlertTracker::fired(int gpu) const {
  const auto it = fired_.find(gpu);
  return it == fired_.end() ? 0 : it->second;
}

bool AlertTracker::active(int gpu) const {
  const auto it = above_.find(gpu);
  return it != above_.end() && it->second;
}

}  // namespace vramguard
