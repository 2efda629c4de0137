// `vramguard load MODEL --strategy S`: the memory-guard pipeline, for real (or on simulated devices).
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>

#include "cli/command.hpp"
#include "cli/load_report.hpp"
#include "cli/model_options.hpp"
#include "cli/planning_setup.hpp"
#include "cli/plugin_discovery.hpp"
#include "core/errors.hpp"
#include "core/text.hpp"
#include "guard/guard_pipeline.hpp"
#include "logging/log.hpp"
#include "vramguard/byte_size.hpp"

namespace vramguard {
namespace {

std::atomic<bool> g_stop{false};

extern "C" void on_stop_signal(int) { g_stop.store(true); }

// Ctrl-C and SIGTERM stop a load cleanly (everything is released) or end --hold.
class StopSignals {
 public:
  StopSignals() {
    g_stop = false;
    struct sigaction action {};
    action.sa_handler = on_stop_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, &old_int_);
    sigaction(SIGTERM, &action, &old_term_);
  }
  ~StopSignals() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }

 private:
  struct sigaction old_int_ {}, old_term_ {};
};

// A progress bar on a terminal; otherwise the pipeline's log lines say enough.
class Progress {
 public:
  Progress() : tty_(::isatty(STDERR_FILENO) == 1), started_(std::chrono::steady_clock::now()) {}
  void operator()(std::uint64_t done, std::uint64_t total) {
    if (!tty_ || total == 0) return;
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    const double rate = seconds > 0 ? static_cast<double>(done) / seconds : 0;
    const int width = 30;
    const int filled = static_cast<int>(width * static_cast<double>(done) / static_cast<double>(total));
    std::fprintf(stderr, "\r[%s%s] %s / %s GB  %.1f GB/s  ETA %.0f s ", std::string(static_cast<std::size_t>(filled), '=').c_str(),
                 std::string(static_cast<std::size_t>(width - filled), ' ').c_str(), format_gb(done).c_str(),
                 format_gb(total).c_str(), rate / 1e9, rate > 0 ? static_cast<double>(total - done) / rate : 0.0);
    if (done == total) std::fprintf(stderr, "\n");
  }
  void reset() { started_ = std::chrono::steady_clock::now(); }

 private:
  bool tty_;
  std::chrono::steady_clock::time_point started_;
};

// Until Enter, end of input, or a signal.
void hold(std::ostream& out) {
  out << "Holding the model (look at it with nvidia-smi); press Enter or send SIGINT/SIGTERM to unload." << std::endl;
  while (!g_stop.load()) {
    pollfd fd{STDIN_FILENO, POLLIN, 0};
    const int ready = ::poll(&fd, 1, 200);
    if (ready > 0) {
      char buffer[256];
      if (::read(STDIN_FILENO, buffer, sizeof buffer) <= 0) break;  // end of input
      if (std::find(buffer, buffer + sizeof buffer, '\n') != buffer + sizeof buffer) break;
    }
  }
}

void write_report(const Invocation& invocation, const GuardReport& report, CommandIO& io) {
  const nlohmann::json doc = guard_report_json(report);
  if (const auto file = invocation.text("report")) {
    std::ofstream out(*file);
    out << doc.dump(2) << "\n";
    if (!out) throw JobError("cannot write the report to " + *file);
  }
  if (invocation.flag("json")) io.out << doc.dump(2) << "\n";
  else print_guard_report(report, io.out);
}

}  // namespace

Command load_command() {
  CommandSpec spec{"load", "load a model through the memory guard: plan, validate, load, verify, report; fall back on out-of-memory",
                   "vramguard load MODEL --strategy S [device, budget and fallback options] [--hold] [--verify-data] [--json] [--report F]",
                   "On an out-of-memory anywhere, everything the attempt allocated is released, the allocator's cache "
                   "emptied, free memory re-probed, and the next strategy of --fallback tried with the budget shrunk by "
                   "the shortfall. Ctrl-C stops cleanly. Exit 1 with a report of what was tried when nothing fits.",
                   [](CommandOptions& own) {
                     declare_planning_options(own);
                     own.options.add_options()
                         ("strategy", po::value<std::string>()->value_name("S")->default_value("auto"), "the first strategy to try")
                         ("max-attempts", po::value<std::size_t>()->default_value(4), "attempts at most, the first included")
                         ("verify-data", po::bool_switch(), "compare every loaded tensor's bytes with the file's")
                         ("hold", po::bool_switch(), "keep the model loaded until Enter or a signal, then unload and report")
                         ("report", po::value<std::string>()->value_name("FILE"), "also write the JSON report to FILE");
                   }};
  return {spec, [](const Invocation& invocation, CommandIO& io) {
            const InspectedModel model = inspect_from_options(invocation);
            std::string allocator;
            auto runtime = make_runtime(invocation, &allocator);
            const PluginRegistry registry = discover_plugins(invocation);

            GuardOptions options;
            options.strategy = *invocation.text("strategy");
            (void)registry.create(options.strategy);  // an unknown name is a usage error before anything loads
            for (const auto& name : text::split(invocation.text("fallback").value_or(""), ','))
              if (!text::trim(name).empty()) options.fallback.emplace_back(text::trim(name));
            options.max_attempts = invocation.values["max-attempts"].as<std::size_t>();
            if (options.max_attempts == 0) throw UsageError("--max-attempts must be at least 1");
            options.budget = budget_options_from(invocation);
            if (invocation.values.count("tokens")) options.workload.tokens = invocation.values["tokens"].as<std::uint64_t>();
            options.target_dtype = model.graph.target_dtype;
            options.verify_data = invocation.flag("verify-data");
            options.cpu_memory = declared_cpu_memory(invocation);
            options.strategy_options = [&](const std::string& name) { return strategy_options_for(invocation, name, name == options.strategy); };
            Progress progress;
            options.progress = [&](std::uint64_t done, std::uint64_t total) { progress(done, total); };
            StopSignals signals;
            options.cancel = &g_stop;

            GuardPipeline pipeline(*runtime, registry, model, options);
            GuardResult result = [&] {
              try {
                return pipeline.run();
              } catch (GuardFailure& failure) {
                GuardReport report = failure.report();
                report.allocator_settings = allocator.empty() ? report.allocator_settings : allocator;
                write_report(invocation, report, io);
                throw JobError(failure.what(), "see the attempts and 'What to do' above");
              }
            }();
            if (!allocator.empty()) result.report.allocator_settings = allocator;
            if (invocation.flag("hold")) {
              if (!invocation.flag("json")) print_guard_report(result.report, io.out);
              hold(io.out);
            }
            pipeline.unload(result);
            write_report(invocation, result.report, io);
            return 0;
          }};
}

}  // namespace vramguard
