#pragma once
// What the commands that load through the guard share (load, run, fix, compare --measure): the
// progress bar, the report written however the run ends, and holding a loaded model.
#include <cstdint>
#include <chrono>
#include <functional>
#include <iosfwd>

#include <nlohmann/json.hpp>

#include "cli/command.hpp"
#include "guard/guard_pipeline.hpp"

namespace vramguard {

// A progress bar on a terminal (bytes, GB/s, ETA), ended with one newline when the load completes;
// nothing elsewhere, where the pipeline's log lines say enough.
class ProgressBar {
 public:
  ProgressBar();
  void operator()(std::uint64_t done, std::uint64_t total);

 private:
  bool tty_;
  bool finished_ = false;
  std::chrono::steady_clock::time_point started_;
};

// --report FILE (always) and the report on stdout (--json, or the human summary). `extra` adds
// sections to the JSON (a run's figures), `print_extra` to the human summary.
// Appends this load (and run, given its summary) to the local metrics log that monitor reads.
void record_metrics(const Invocation& invocation, const std::string& command, const GuardReport& report,
                    const nlohmann::json& run = nlohmann::json());
void write_guard_report(const Invocation& invocation, const GuardReport& report, CommandIO& io, bool print = true,
                        const nlohmann::json& extra = nlohmann::json::object(),
                        const std::function<void(std::ostream&)>& print_extra = {});
// pipeline.run() with the allocator settings in its report; a run that fails writes its report
// (--report, the summary) before the failure goes on to the command's exit code.
GuardResult run_reporting_failure(GuardPipeline& pipeline, const Invocation& invocation, CommandIO& io,
                                  const std::string& allocator_settings);
// Until Enter, end of input, or a signal.
void hold_loaded_model(const GuardReport& report, std::ostream& out);
// A simulated runtime keeps real bytes for --verify-data and runs: refuse, before anything loads, a
// model whose bytes would not fit in this machine's RAM.
void require_host_room_for_simulated_data(const InspectedModel& model, const std::string& why);

}  // namespace vramguard
