#pragma once
// The local metrics log: each load and run appends one JSON line (what, model, strategy, seconds, bytes,
// step times, peaks) to $VRAMGUARD_STATE_DIR/metrics.jsonl (default: $XDG_STATE_HOME/vramguard, else
// ~/.local/state/vramguard), which `monitor` and its /metrics endpoint read: load times and memory
// efficiency over time. Bounded: past 1 MiB the newest records that fill half of it are kept, and a
// writer that waited while another trimmed writes into the new file. Writing never fails a load: a log
// that cannot be written is a warning.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/environment.hpp"

namespace vramguard {

inline constexpr std::uint64_t kMetricsLogMaxBytes = 1ULL << 20;

// Where the log lives for this environment; empty when no folder can be named (no HOME).
std::filesystem::path metrics_log_path(const Environment& environment);
// Appends `record` (a JSON object; "time" is added, seconds since the epoch). Returns a warning's text
// when it could not be written, else empty.
std::string append_metrics_record(const Environment& environment, nlohmann::json record);
// The records in the log, oldest first; a line that is not a JSON object is a null record (the
// /metrics endpoint counts them as skipped).
std::vector<nlohmann::json> read_metrics_log(const Environment& environment);

}  // namespace vramguard
