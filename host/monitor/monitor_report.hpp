#pragma once
// What monitor shows, in each form: JSON for the web page and --json-lines, Prometheus text for
// /metrics (with the load and step timings of the local metrics log), and the terminal view.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "monitor/sampler.hpp"

namespace vramguard {

nlohmann::json sample_json(const Sample& sample);
// The state for the web page: each GPU with its history (time, used bytes), processes, alert state.
nlohmann::json state_json(const MonitorState& state);
// Prometheus text exposition (format 0.0.4).
std::string prometheus_text(const MonitorState& state, const std::vector<nlohmann::json>& metrics_log);
// The terminal view: per GPU a bar, used/free/total and a short history; per process its bytes.
std::string terminal_view(const MonitorState& state, std::size_t width);

}  // namespace vramguard
