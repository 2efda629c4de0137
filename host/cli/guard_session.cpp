#include "cli/guard_session.hpp"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ostream>

#include "core/metrics_log.hpp"
#include "core/output_file.hpp"
#include "guard/report.hpp"
#include "logging/log.hpp"
#include "core/stop_signal.hpp"
#include "devices/host_memory.hpp"
#include "vramguard/byte_size.hpp"

namespace vramguard {

ProgressBar::ProgressBar() : tty_(::isatty(STDERR_FILENO) == 1), started_(std::chrono::steady_clock::now()) {}

void ProgressBar::operator()(std::uint64_t done, std::uint64_t total) {
  if (!tty_ || total == 0 || finished_) return;
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  const double rate = seconds > 0 ? static_cast<double>(done) / seconds : 0;
  const int width = 30;
  const int filled = static_cast<int>(width * static_cast<double>(std::min(done, total)) / static_cast<double>(total));
  std::fprintf(
      stderr, "\r[%s%s] %s / %s GB  %.1f GB/s  ETA %.0f s ", std::string(static_cast<std::size_t>(filled), '=').c_str(),
      std::string(static_cast<std::size_t>(width - filled), ' ').c_str(), format_gb(done).c_str(),
      format_gb(total).c_str(), rate / 1e9, rate > 0 ? static_cast<double>(total - std::min(done, total)) / rate : 0.0);
  if (done >= total) {
    std::fprintf(stderr, "\n");
    finished_ = true;
  }
  std::fflush(stderr);
}

void record_metrics(const Invocation& invocation, const std::string& command, const GuardReport& report,
                    const nlohmann::json& run) {
  nlohmann::json record{{"kind", run.is_null() ? "load" : "run"},
                        {"command", command},
                        {"model", report.model},
                        {"runtime", report.runtime},
                        {"success", report.success},
                        {"strategy", report.final_strategy},
                        {"attempts", report.attempts.size()}};
  if (report.success) {
    record["load_seconds"] = report.statistics.seconds;
    record["bytes_to_gpus"] = report.statistics.bytes_to_gpus;
    nlohmann::json peaks = nlohmann::json::object();
    for (const auto& [device, bytes] : report.attempts.back().measured_bytes) peaks[device.str()] = bytes;
    record["peak_bytes"] = peaks;
  }
  if (!run.is_null())
    for (const char* key : {"median_step_seconds", "first_step_seconds", "tokens_per_second", "streamed_bytes_per_step",
                            "predicted_step_seconds", "overlap_efficiency"})
      if (run.contains(key)) record[key] = run[key];
  if (const std::string warning = append_metrics_record(invocation.environment, record); !warning.empty())
    log::warn(warning);
}

GuardResult run_reporting_failure(GuardPipeline& pipeline, const Invocation& invocation, CommandIO& io,
                                  const std::string& allocator_settings) {
  try {
    GuardResult result = pipeline.run();
    result.report.allocator_settings = allocator_settings;
    return result;
  } catch (const GuardFailure& failure) {
    GuardReport report = failure.report();
    report.allocator_settings = allocator_settings;
    write_guard_report(invocation, report, io);
    throw;
  }
}

void write_guard_report(const Invocation& invocation, const GuardReport& report, CommandIO& io, bool print,
                        const nlohmann::json& extra, const std::function<void(std::ostream&)>& print_extra) {
  record_metrics(invocation, invocation.command, report, extra.contains("run") ? extra["run"] : nlohmann::json());
  nlohmann::json doc = guard_report_json(report);
  for (const auto& [key, value] : extra.items()) doc[key] = value;
  if (const auto file = invocation.text("report")) write_output_file(*file, doc.dump(2) + "\n", "the report");
  if (!print) return;
  if (invocation.flag("json")) {
    io.out << doc.dump(2) << "\n";
    return;
  }
  print_guard_report(report, io.out, print_extra);
}

void hold_loaded_model(const GuardReport& report, std::ostream& out) {
  out << (report.runtime == "simulated"
              ? "Holding the model on the simulated devices; press Enter or send SIGINT/SIGTERM to unload."
              : "Holding the model (nvidia-smi shows it); press Enter or send SIGINT/SIGTERM to unload.")
      << std::endl;
  while (!stop_requested()) {
    pollfd fd{STDIN_FILENO, POLLIN, 0};
    const int ready = ::poll(&fd, 1, 200);
    if (ready > 0) {
      char buffer[256];
      const ssize_t n = ::read(STDIN_FILENO, buffer, sizeof buffer);
      if (n <= 0) break;  // end of input
      if (std::find(buffer, buffer + n, '\n') != buffer + n) break;
    }
  }
}

void require_host_room_for_simulated_data(const InspectedModel& model, const std::string& why) {
  const std::uint64_t available = read_host_memory().available_bytes;
  if (model.graph.bytes() > available)
    throw UsageError(why + " on simulated devices keeps every byte in this machine's RAM: the model's " +
                         format_bytes(model.graph.bytes()) + " do not fit in the " + format_bytes(available) +
                         " available",
                     "use a smaller model (vramguard synth --preset tiny), or a real GPU");
}

}  // namespace vramguard
