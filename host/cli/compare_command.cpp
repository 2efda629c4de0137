// `vramguard compare MODEL --strategies a,b,c`: the strategies side by side on the same model and budget.
#include <algorithm>
#include <iomanip>
#include <ostream>

#include "cli/command.hpp"
#include "cli/plan_report.hpp"
#include "cli/plugin_discovery.hpp"
#include "core/errors.hpp"
#include "core/text.hpp"
#include "guard/guard_pipeline.hpp"
#include "guard/plan_validator.hpp"
#include "vramguard/byte_size.hpp"

namespace vramguard {

namespace {

struct Measured {
  bool loaded = false;
  std::string outcome;
  double load_seconds = 0;
  std::map<std::string, std::uint64_t> peak_bytes;  // this process on each GPU once loaded (NVML), else our allocations
};

struct Row {
  std::string strategy;
  bool feasible = false;
  std::string why;  // the explanation, or why it does not fit
  std::optional<Prediction> prediction;
  std::map<std::string, std::uint64_t> minimum;
  std::optional<Measured> measured;
};

// --measure: load with this strategy alone (no fallback) through the guard, then unload.
Measured measure(const PluginRegistry& registry, const std::string& name, const PlanningSetup& setup, const Invocation& invocation) {
  Measured m;
  auto runtime = make_runtime(invocation);
  GuardOptions options;
  options.strategy = name;
  options.max_attempts = 1;
  options.budget = budget_options_from(invocation);
  options.workload = setup.workload;
  options.target_dtype = setup.model.graph.target_dtype;
  options.cpu_memory = declared_cpu_memory(invocation);
  options.strategy_options = [&](const std::string& strategy) { return strategy_options_for(invocation, strategy, false); };
  GuardPipeline pipeline(*runtime, registry, setup.model, options);
  try {
    GuardResult result = pipeline.run();
    const AttemptRecord& attempt = result.report.attempts.back();
    m.loaded = true;
    m.outcome = "loaded";
    m.load_seconds = result.report.statistics.seconds;
    m.peak_bytes = attempt.measured_process_bytes.empty() ? attempt.measured_bytes : attempt.measured_process_bytes;
    pipeline.unload(result);
  } catch (const GuardFailure& failure) {
    m.outcome = failure.report().attempts.empty() ? failure.what() : failure.report().attempts.back().outcome;
  }
  return m;
}

Row evaluate(const PluginRegistry& registry, const std::string& name, const PlanningSetup& setup, const Invocation& invocation) {
  Row row{name};
  try {
    const StrategyInstance strategy = registry.create(name);
    const Placement placement = strategy.strategy().plan(
        {setup.model.graph, setup.budget, setup.workload, strategy_options_for(invocation, name, false)});
    row.prediction = validate_plan(setup.model.graph, setup.budget, setup.workload, placement, name);
    row.feasible = true;
    row.why = placement.explanation;
  } catch (const NoFitError& e) {
    row.why = "does not fit: " + e.reason();
    row.minimum = e.minimum_bytes();
  } catch (const InvalidStrategyOption& e) {
    throw UsageError(e.what());
  } catch (const InvalidPlanError& e) {
    row.why = e.what();
  }
  return row;
}

}  // namespace

Command compare_command() {
  CommandSpec spec{"compare", "compare strategies side by side: fits or not and why, peak memory, streaming, load and pass time",
                   "vramguard compare MODEL [--strategies balanced,auto,sequential-offload,multi-gpu] [options] [--json]",
                   "Every strategy plans for the same model, devices and budget; each plan is validated. Strategy options: "
                   "--option NAME.KEY=VALUE or the config's [strategy.NAME] sections.",
                   [](CommandOptions& own) {
                     declare_planning_options(own);
                     own.options.add_options()("strategies", po::value<std::string>()->value_name("LIST"),
                                               "comma-separated strategy names (default: every plugin found)")(
                         "measure", po::bool_switch(),
                         "also load each feasible strategy through the guard (alone, no fallback) and show measured load time and peak");
                   }};
  return {spec, [](const Invocation& invocation, CommandIO& io) {
            const PlanningSetup setup = prepare_planning(invocation);
            const PluginRegistry registry = discover_plugins(invocation);
            std::vector<std::string> names = registry.names();
            if (const auto list = invocation.text("strategies")) {
              names.clear();
              for (const auto& n : text::split(*list, ','))
                if (!text::trim(n).empty()) names.emplace_back(text::trim(n));
              for (const auto& n : names) (void)registry.create(n);  // an unknown name is a usage error, with suggestions
            }
            if (names.empty()) throw UsageError("no strategies to compare", "no plugin was found; see `vramguard plugins`");
            std::vector<Row> rows;
            for (const auto& n : names) rows.push_back(evaluate(registry, n, setup, invocation));
            if (invocation.flag("measure"))
              for (auto& row : rows)
                if (row.feasible) row.measured = measure(registry, row.strategy, setup, invocation);
            // What auto would pick: its own row when it was compared, else one plan more.
            std::string auto_pick;
            if (registry.find("auto")) {
              const auto row = std::find_if(rows.begin(), rows.end(), [](const Row& r) { return r.strategy == "auto"; });
              auto_pick = row != rows.end() ? row->why : evaluate(registry, "auto", setup, invocation).why;
            }
            const auto gpus = setup.budget.gpus();

            if (invocation.flag("json")) {
              nlohmann::json doc;
              doc["model"] = setup.model.source.argument;
              doc["runtime"] = setup.runtime;
              doc["notes"] = setup.notes;
              doc["devices"] = budget_json(setup.budget);
              doc["strategies"] = nlohmann::json::array();
              for (const auto& row : rows) {
                nlohmann::json r{{"strategy", row.strategy}, {"feasible", row.feasible}, {"explanation", row.why}};
                if (row.prediction) {
                  r["predicted_peak_bytes"] = nlohmann::json::object();
                  for (const auto& d : row.prediction->devices)
                    if (setup.budget.find(d.device)->kind != DeviceKind::disk) r["predicted_peak_bytes"][d.device] = d.peak_bytes;
                  r["streamed_bytes_per_step"] = row.prediction->streamed_bytes_per_step;
                  r["load_seconds"] = row.prediction->load_seconds;
                  r["step_seconds"] = row.prediction->step_seconds;
                }
                if (!row.minimum.empty()) r["minimum_bytes"] = row.minimum;
                if (row.measured)
                  r["measured"] = {{"loaded", row.measured->loaded}, {"outcome", row.measured->outcome},
                                   {"load_seconds", row.measured->load_seconds}, {"peak_bytes", row.measured->peak_bytes}};
                doc["strategies"].push_back(r);
              }
              doc["auto_picks"] = auto_pick;
              io.out << doc.dump(2) << "\n";
              return 0;
            }
            io.out << "Compare on " << setup.runtime << " devices:";
            for (const auto* gpu : gpus) io.out << " " << gpu->name << " (" << gpu->description << ", usable " << format_bytes(gpu->usable_bytes) << ")";
            io.out << "\nModel: " << setup.model.source.argument << ", " << format_bytes(setup.model.graph.bytes()) << "\n";
            for (const auto& note : setup.notes) io.out << "note: " << note << "\n";
            io.out << "\n" << std::left << std::setw(20) << "STRATEGY" << std::setw(6) << "FITS";
            for (const auto* gpu : gpus) io.out << std::right << std::setw(16) << ("PEAK " + gpu->name + " GB");
            const bool measured = invocation.flag("measure");
            io.out << std::right << std::setw(18) << "STREAMED/PASS GB" << std::setw(12) << "LOAD" << std::setw(12) << "PASS";
            if (measured) io.out << std::setw(16) << "MEASURED LOAD" << std::setw(22) << "MEASURED PEAK GB";
            io.out << "\n";
            for (const auto& row : rows) {
              io.out << std::left << std::setw(20) << row.strategy << std::setw(6) << (row.feasible ? "yes" : "no");
              for (const auto* gpu : gpus)
                io.out << std::right << std::setw(16) << (row.prediction ? format_gb(row.prediction->find(gpu->name)->peak_bytes) : "-");
              if (row.prediction) {
                io.out << std::right << std::setw(18) << format_gb(row.prediction->streamed_bytes_per_step) << std::setw(12)
                       << seconds_text(row.prediction->load_seconds) << std::setw(12) << seconds_text(row.prediction->step_seconds);
              } else {
                io.out << std::right << std::setw(18) << "-" << std::setw(12) << "-" << std::setw(12) << "-";
              }
              if (measured) {
                std::string peaks;
                if (row.measured)
                  for (const auto& [device, bytes] : row.measured->peak_bytes) peaks += (peaks.empty() ? "" : " ") + format_gb(bytes);
                io.out << std::right << std::setw(16) << (row.measured && row.measured->loaded ? seconds_text(row.measured->load_seconds) : "-")
                       << std::setw(22) << (peaks.empty() ? "-" : peaks);
              }
              io.out << "\n    " << row.why << "\n";
              if (row.measured && !row.measured->loaded) io.out << "    measured: " << row.measured->outcome << "\n";
            }
            if (!auto_pick.empty()) io.out << "\nauto would pick: " << auto_pick << "\n";
            return 0;
          }};
}

}  // namespace vramguard
