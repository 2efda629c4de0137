// `vramguard monitor`: GPU memory, live. A terminal view refreshed in place (or a line per sample when
// the output is not a terminal), alerts when a GPU crosses the threshold and when it comes back,
// JSON lines, a command run on each alert, and with --serve a web page, a JSON endpoint and
// Prometheus metrics (with the load and step times vramguard recorded on this machine).
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <mutex>
#include <ostream>
#include <thread>

#include "cli/command.hpp"
#include "core/errors.hpp"
#include "core/metrics_log.hpp"
#include "core/stop_signal.hpp"
#include "monitor/alert_command.hpp"
#include "monitor/http_server.hpp"
#include "monitor/monitor_page.hpp"
#include "monitor/monitor_report.hpp"
#include "monitor/sampler.hpp"
#include "engine/request_setup.hpp"
#include "request/cli_options.hpp"
#include "vramguard/byte_size.hpp"

namespace vramguard {
namespace {

double seconds_option(const Invocation& invocation, const std::string& name, double low, double high, double fallback) {
  const auto text = invocation.text(name);
  if (!text) return fallback;
  double value = -1;
  try {
    std::size_t used = 0;
    value = std::stod(*text, &used);
    if (used != text->size()) value = -1;
  } catch (const std::exception&) {
    value = -1;
  }
  if (!(value >= low && value <= high))
    throw UsageError("--" + name + " '" + *text + "' must be a number of seconds from " +
                     std::to_string(low).substr(0, 4) + " to " + std::to_string(static_cast<int>(high)));
  return value;
}

std::string line_for(const Sample& sample) {
  std::string line;
  for (const auto& r : sample.gpus)
    line += (line.empty() ? "" : "  ") + std::string("cuda:") + std::to_string(r.index) + " " +
            format_gb(r.used_bytes) + "/" + format_gb(r.total_bytes) + " GB used, " +
            std::to_string(r.processes.size()) + " processes";
  return line;
}

}  // namespace

Command monitor_command() {
  CommandSpec spec{
      "monitor", "watch GPU memory live: a terminal view, alerts, JSON lines, a web page and Prometheus metrics",
      "vramguard monitor [--interval S] [--alert-above 90%|SIZE] [--on-alert CMD] [--json-lines] [--serve "
      "127.0.0.1:PORT] "
      "[--allow-remote] [--duration S]",
      "Reads the GPUs through NVML (as nvidia-smi numbers them; it holds no CUDA context), or simulated ones "
      "(--simulate, with --simulate-process and --simulate-usage for what other programs hold). An alert fires when a "
      "GPU's used memory reaches the threshold and again when it comes back below: printed, as a JSON line with "
      "--json-lines, and passed to --on-alert's command (run with /bin/sh) in VRAMGUARD_ALERT_STATE, _GPU, _GPU_NAME, "
      "_USED_BYTES, _TOTAL_BYTES, _THRESHOLD_BYTES and _TIME. --serve serves / (the page), /api/state (JSON) and "
      "/metrics (Prometheus, with the loads and runs of the metrics log), on loopback addresses only unless "
      "--allow-remote. Runs until Ctrl-C, or --duration seconds.",
      [](CommandOptions& own) {
        // clang-format off
        own.options.add_options()
            ("interval", po::value<std::string>()->value_name("S")->default_value("1"),
                "seconds between samples (0.05-3600)")
            ("alert-above", po::value<std::string>()->value_name("LIMIT")->default_value("90%"),
                "alert when a GPU's used memory reaches this: a percentage of the card or a size (14GB)")
            ("on-alert", po::value<std::string>()->value_name("CMD"),
                "run CMD (with /bin/sh) on every alert, without waiting for it")
            ("json-lines", po::bool_switch(), "print every sample and alert as a JSON line instead of the view")
            ("serve", po::value<std::string>()->value_name("ADDRESS:PORT"),
                "serve the web page, /api/state and /metrics")
            ("allow-remote", po::bool_switch(), "with --serve: allow an address other than 127.0.0.1 or ::1")
            ("duration", po::value<std::string>()->value_name("S"), "stop after S seconds (default: at Ctrl-C)")
            ("simulate", po::value<std::string>()->value_name("GPUS"),
                "watch declared GPUs instead of real ones (as plan's --simulate)")
            ("cpu-memory", po::value<std::string>()->value_name("SIZE"), "with --simulate: declare the host's RAM");
        // clang-format on
        declare_simulated_neighbours(own);
      }};
  return {spec, [](const Invocation& invocation, CommandIO& io) {
            const Threshold threshold = parse_threshold(invocation.text("alert-above").value_or("90%"));
            const double interval = seconds_option(invocation, "interval", 0.05, 3600, 1);
            // 0: until Ctrl-C
            const double duration =
                invocation.text("duration") ? seconds_option(invocation, "duration", 0.05, 31'536'000, 0) : 0;
            const bool json_lines = invocation.flag("json-lines");
            const bool terminal = !json_lines && ::isatty(STDOUT_FILENO);
            if (invocation.flag("allow-remote") && !invocation.text("serve"))
              throw UsageError("--allow-remote goes with --serve");
            std::optional<HttpServerOptions> serve;
            if (const auto text = invocation.text("serve"))
              serve = listen_options(*text, invocation.flag("allow-remote"), "--serve");
            std::unique_ptr<AlertCommand> on_alert;
            if (const auto command = invocation.text("on-alert")) on_alert = std::make_unique<AlertCommand>(*command);

            std::mutex output;
            Sampler* sampler_ptr = nullptr;
            Sampler sampler(make_gpu_source(invocation), threshold, interval,
                            [&](const Sample& sample, const std::vector<AlertEvent>& alerts) {
                              for (const auto& alert : alerts)
                                if (on_alert) on_alert->run(alert);
                              if (on_alert) on_alert->reap();
                              std::lock_guard lock(output);
                              if (json_lines) {
                                io.out << sample_json(sample).dump() << "\n";
                                for (const auto& alert : alerts) io.out << alert_json(alert).dump() << "\n";
                              } else if (terminal) {
                                io.out << "\x1b[H\x1b[2J" << terminal_view(sampler_ptr->state(), 100);
                              } else {
                                io.out << line_for(sample) << "\n";
                                for (const auto& a : alerts)
                                  io.out << "alert: cuda:" << a.gpu << " " << (a.above ? "above" : "back below") << " "
                                         << format_bytes(a.threshold_bytes) << " (" << format_bytes(a.used_bytes)
                                         << " used of " << format_bytes(a.total_bytes) << ")\n";
                              }
                              io.out << std::flush;
                            });
            sampler_ptr = &sampler;
            const Environment environment = invocation.environment;
            std::unique_ptr<HttpServer> server;
            if (serve) {
              server = std::make_unique<HttpServer>(
                  *serve, [&sampler, environment](const std::string& target) -> HttpResponse {
                    const std::string path = target.substr(0, target.find('?'));
                    if (path == "/" || path == "/index.html")
                      return {200, "text/html; charset=utf-8", std::string(monitor_page_html())};
                    if (path == "/api/state") return {200, "application/json", state_json(sampler.state()).dump()};
                    if (path == "/metrics")
                      return {200, "text/plain; version=0.0.4; charset=utf-8",
                              prometheus_text(sampler.state(), read_metrics_log(environment))};
                    return {404, "text/plain; charset=utf-8",
                            "not found: " + path + " (the monitor serves /, /api/state and /metrics)\n"};
                  });
              std::lock_guard lock(output);
              io.err << "vramguard monitor: serving " << server->url() << " (the page), " << server->url()
                     << "api/state, " << server->url() << "metrics" << std::endl;
            }
            sampler.start();
            const auto started = std::chrono::steady_clock::now();
            while (!stop_requested()) {
              if (duration > 0 &&
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count() >= duration)
                break;
              std::this_thread::sleep_for(std::chrono::milliseconds(20));
            }
            sampler.stop();
            if (server) server->stop();
            return 0;
          }};
}

}  // namespace vramguard
