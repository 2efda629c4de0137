// `vramguard fix MODEL`: the one-click fix for out-of-memory trouble. doctor, then vramguard's own
// cached memory released, then (with --terminate-own, and consent) the user's own processes that
// hold the GPU stopped, then the guarded load with its fallback ladder and verify, then what changed,
// where the model went, and the config that worked.
#include <unistd.h>

#include <iostream>
#include <map>
#include <ostream>

#include "cli/command.hpp"
#include "cli/guard_session.hpp"
#include "core/output_file.hpp"
#include "core/stop_signal.hpp"
#include "core/text.hpp"
#include "diagnose/doctor.hpp"
#include "diagnose/process_control.hpp"
#include "guard/report.hpp"
#include "engine/request_setup.hpp"
#include "request/cli_options.hpp"
#include "vramguard/byte_size.hpp"

namespace vramguard {
namespace {

// Asks on the terminal; anything but y/yes is no.
bool confirmed(const std::vector<GpuProcess>& processes, std::ostream& out) {
  out << "Stop these processes of yours to free their GPU memory?\n";
  for (const auto& p : processes)
    out << "  pid " << p.pid << " " << p.name << " (" << format_bytes(p.bytes) << "): " << p.command << "\n";
  out << "[y/N] " << std::flush;
  std::string answer;
  if (!std::getline(std::cin, answer)) return false;
  return answer == "y" || answer == "Y" || answer == "yes";
}

}  // namespace

Command fix_command() {
  CommandSpec spec{
      "fix",
      "the one-click fix: find what holds the GPU, free what may be freed, load the model the safe way, check it",
      "vramguard fix MODEL [--config F] [--terminate-own] [--yes] [--grace S] [--write-config F] [device, budget and "
      "fallback options] [--json] [--report F]",
      "Runs doctor; releases vramguard's own cached memory; when other processes keep the model from fitting, lists "
      "them "
      "with what stopping each would free and, with --terminate-own, stops those that are yours (never another user's, "
      "never vramguard's own ancestors) after a confirmation on the terminal or --yes: SIGTERM, then SIGKILL after "
      "--grace "
      "seconds; then loads the model through the guard (fallback ladder, verify) and says what changed, where the "
      "model "
      "went and the config that worked (--write-config). Exit 0 when the model loaded, 1 when it could not.",
      [](CommandOptions& own) {
        declare_planning_options(own);
        declare_guard_options(own);
        // clang-format off
        own.options.add_options()
            ("strategy", po::value<std::string>()->value_name("S"),
                "the first strategy to try (default: the fastest that fits now)")
            ("terminate-own", po::bool_switch(), "stop your own processes that keep the model from fitting")
            ("yes", po::bool_switch(), "with --terminate-own: do not ask")
            ("grace", po::value<std::string>()->value_name("S")->default_value("10"),
                "seconds between SIGTERM and SIGKILL (1-600)")
            ("write-config", po::value<std::string>()->value_name("FILE"), "write the config that worked")
            ("report", po::value<std::string>()->value_name("FILE"), "also write the JSON report to FILE");
        // clang-format on
      }};
  return {
      spec, [](const Invocation& invocation, CommandIO& io) {
        const LoadRequest request = load_request_from(invocation);
        const InspectedModel model = inspect_requested(request);
        const bool json = invocation.flag("json");
        const auto grace = std::chrono::seconds(invocation.number("grace", 1, 600).value_or(10));
        if (invocation.flag("yes") && !invocation.flag("terminate-own"))
          throw UsageError("--yes only confirms --terminate-own", "vramguard fix MODEL --terminate-own --yes");
        std::string allocator;
        auto runtime = make_runtime(request, false, &allocator);
        const PluginRegistry registry = discover_plugins(request.plugins);
        nlohmann::json doc;
        std::vector<std::string> changes;

        // 1. What is wrong.
        const DoctorReport before = diagnose(*runtime, request, &model, &registry);
        doc["doctor"] = doctor_json(before);
        if (!json) print_doctor(before, io.out);

        // 2. Our own caches.
        runtime->release_cached();
        changes.push_back("released vramguard's own cached GPU memory");

        // 3. Other processes, when nothing fits with them there.
        doc["stopped"] = nlohmann::json::array();
        doc["not_stopped"] = nlohmann::json::array();
        if (!before.recommended) {
          std::vector<GpuProcess> mine;
          std::map<std::uint32_t, std::uint64_t> started;  // pid → start time when listed: what consent is given for
          for (const auto& [device, processes] : before.processes)
            for (const auto& p : processes) {
              const std::string why = refusal_to_stop(p);
              if (why.empty()) mine.push_back(p), started[p.pid] = start_ticks_of(p);
              else
                doc["not_stopped"].push_back(
                    {{"pid", p.pid}, {"name", p.name}, {"user", p.user}, {"bytes", p.bytes}, {"why", why}});
              if (!json)
                io.out << (why.empty() ? "  yours: " : "  not yours to stop: ") << "pid " << p.pid << " " << p.name
                       << (p.user.empty() ? "" : " (user " + p.user + ")") << " holds " << format_bytes(p.bytes)
                       << " on " << device.str() << (why.empty() ? ": stopping it frees that much" : ": " + why)
                       << "\n";
            }
          if (!invocation.flag("terminate-own")) {
            if (!mine.empty() && !json)
              io.out << "Nothing was stopped: vramguard fix --terminate-own stops the processes marked yours.\n";
          } else if (!mine.empty()) {
            if (!invocation.flag("yes")) {
              if (!::isatty(STDIN_FILENO))
                throw UsageError("fix would stop " + std::to_string(mine.size()) +
                                     " of your processes, and there is no terminal to ask",
                                 "run it on a terminal, or pass --yes to consent");
              if (!confirmed(mine, io.out))
                throw UsageError("not confirmed: nothing was stopped", "answer y, or pass --yes");
            }
            for (const auto& p : mine) {
              const StopOutcome outcome = stop_process(p, started.at(p.pid), grace);
              doc["stopped"].push_back({{"pid", p.pid},
                                        {"name", p.name},
                                        {"bytes", p.bytes},
                                        {"stopped", outcome.stopped},
                                        {"killed", outcome.killed},
                                        {"error", outcome.error}});
              if (outcome.stopped)
                changes.push_back("stopped pid " + std::to_string(p.pid) + " (" + p.name + ", " +
                                  format_bytes(p.bytes) + ")" +
                                  (outcome.killed ? " with SIGKILL after SIGTERM was ignored" : " with SIGTERM"));
              else if (!json) io.out << "could not stop pid " << p.pid << ": " << outcome.error << "\n";
            }
          }
        }

        // 4. The guarded load, from the fastest strategy that fits now.
        const auto now = fits_now(*runtime, request, model, registry);
        GuardOptions options = guard_options_from(request, registry);
        // The strategy doctor recommends (the fastest that fits now, or the config's where that is a
        // tie within 2 %), the same one --write-config writes; a --strategy on the command line goes
        // first instead.
        if (!invocation.from_command_line.count("strategy"))
          if (const auto verdict =
                  pick_strategy(now, request.strategy_given ? request.strategy : std::string(), request.job_given))
            options.strategy = verdict->strategy;
        ProgressBar progress;
        if (!json) options.progress = [&](std::uint64_t done, std::uint64_t total) { progress(done, total); };
        options.cancel = &stop_flag();
        GuardPipeline pipeline(*runtime, registry, model, options);
        std::optional<GuardResult> result;
        try {
          result.emplace(pipeline.run());
        } catch (const GuardFailure& failure) {
          GuardReport report = failure.report();
          report.allocator_settings = allocator;
          doc["load"] = guard_report_json(report);
          doc["changes"] = changes;
          doc["loaded"] = false;
          record_metrics(invocation, "fix", report);
          if (json) io.out << doc.dump(2) << "\n";
          else {
            io.out << "\n";
            print_guard_report(report, io.out);
            io.out << "\nChanged: " << text::join(changes, "; ")
                   << ". The model could not be loaded: see 'What to do' above.\n";
          }
          if (const auto file = invocation.text("report")) write_output_file(*file, doc.dump(2) + "\n", "the report");
          return static_cast<int>(failure.exit_code() == ExitCode::ok ? ExitCode::job_failed : failure.exit_code());
        }
        result->report.allocator_settings = allocator;
        const std::string strategy = result->placement.strategy;
        const std::string config = config_for(request, strategy);
        if (const auto file = invocation.text("write-config")) write_output_file(*file, config, "the config");
        pipeline.unload(*result);
        record_metrics(invocation, "fix", result->report);
        doc["load"] = guard_report_json(result->report);
        doc["changes"] = changes;
        doc["loaded"] = true;
        doc["config"] = config;
        if (const auto file = invocation.text("report")) write_output_file(*file, doc.dump(2) + "\n", "the report");
        if (json) {
          io.out << doc.dump(2) << "\n";
          return 0;
        }
        io.out << "\n";
        print_guard_report(result->report, io.out);
        io.out << "\nWhat changed: " << text::join(changes, "; ") << ".\n";
        io.out << "Loaded with " << strategy
               << " and verified; where the units went (vramguard plan --units lists each):\n";
        for (const auto& component : model.graph.components) {
          std::map<std::string, std::pair<std::size_t, std::uint64_t>> by_place;  // "streamed to cuda:0" → units, bytes
          for (const auto& unit : component.units) {
            const UnitPlacement* p = result->placement.find(component.name, unit.name);
            auto& entry = by_place[std::string(placement_mode_name(p->mode)) +
                                   (p->mode == PlacementMode::cpu ? "" : " on " + p->executes_on.str())];
            ++entry.first;
            entry.second += unit.bytes;
          }
          io.out << "  " << component.name << ":";
          for (const auto& [place, figures] : by_place)
            io.out << " " << figures.first << " units " << place << " (" << format_bytes(figures.second) << ")";
          io.out << "\n";
        }
        io.out << "\nThe config that worked"
               << (invocation.text("write-config") ? " (written to " + *invocation.text("write-config") + ")" : "")
               << ":\n"
               << config;
        return 0;
      }};
}

}  // namespace vramguard
