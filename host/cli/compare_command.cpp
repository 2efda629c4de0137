// `vramguard compare MODEL --strategies a,b,c`: the strategies side by side on the same model and budget.
#include <algorithm>
#include <ostream>

#include "cli/command.hpp"
#include "cli/guard_session.hpp"
#include "cli/plan_report.hpp"
#include "setup/plugin_discovery.hpp"
#include "cli/table.hpp"
#include "core/errors.hpp"
#include "core/stop_signal.hpp"
#include "core/text.hpp"
#include "guard/guard_pipeline.hpp"
#include "guard/plan_validator.hpp"
#include "vramguard/byte_size.hpp"

namespace vramguard {

namespace {

// What a measured load (and run) showed, like for like with the predictions beside it.
struct Measured {
  bool loaded = false;
  std::string outcome;
  double load_seconds = 0;
  std::map<DeviceId, std::uint64_t> load_peak_bytes;  // this process on each GPU once loaded (NVML), else our allocations
  bool process_bytes = false;                          // load_peak_bytes include the context (NVML)
};

struct Row {
  std::string strategy;
  bool feasible = false;
  std::string why;  // the explanation, or why it does not fit
  std::optional<Prediction> prediction;
  std::map<DeviceId, std::uint64_t> minimum;
  std::optional<Measured> measured;
};

// --measure: load with this strategy alone (no fallback) through the guard, then unload.
Measured measure(const PluginRegistry& registry, const std::string& name, const PlanningSetup& setup, const Invocation& invocation) {
  Measured m;
  auto runtime = make_runtime(invocation);
  GuardOptions options = guard_options_from(invocation, setup.model, registry);
  options.strategy = name;
  options.fallback.clear();
  options.max_attempts = 1;
  options.cancel = &stop_flag();
  options.strategy_options = [&](const std::string& strategy) { return strategy_options_for(invocation, strategy, false); };
  GuardPipeline pipeline(*runtime, registry, setup.model, options);
  try {
    GuardResult result = pipeline.run();
    const AttemptRecord& attempt = result.report.attempts.back();
    m.loaded = true;
    m.outcome = "loaded";
    m.load_seconds = result.report.statistics.seconds;
    m.process_bytes = !attempt.measured_process_bytes.empty();
    m.load_peak_bytes = m.process_bytes ? attempt.measured_process_bytes : attempt.measured_bytes;
    pipeline.unload(result);
  } catch (const GuardFailure& failure) {
    if (failure.exit_code() == ExitCode::interrupted) throw;
    m.outcome = failure.report().attempts.empty() ? failure.what() : failure.report().attempts.back().outcome;
  }
  return m;
}

Row evaluate(const PluginRegistry& registry, const std::string& name, const PlanningSetup& setup, const Invocation& invocation) {
  Row row;
  row.strategy = name;
  try {
    const StrategyInstance strategy = registry.create(name);
    const Placement placement =
        strategy.plan({setup.model.graph, setup.budget, setup.workload, strategy_options_for(invocation, name, false)}, &stop_flag());
    row.prediction = validate_plan(setup.model.graph, setup.budget, setup.workload, placement, name);
    row.feasible = true;
    row.why = placement.explanation;
  } catch (const NoFitError& e) {
    row.why = "does not fit: " + e.reason();
    row.minimum = e.minimum_bytes();
  } catch (const InvalidPlanError& e) {
    row.why = e.what();
  } catch (const PluginError& e) {
    row.why = e.what();
  }
  return row;
}

// The peak the load itself reaches: what a measured load can be held against (activations come later).
std::uint64_t predicted_load_peak(const Prediction& prediction, DeviceId device, bool with_context) {
  const auto* d = prediction.find(device);
  if (d == nullptr || d->peak_bytes == 0) return 0;
  return d->resident_bytes + d->window_bytes + (with_context ? d->context_bytes : 0);
}

}  // namespace

Command compare_command() {
  CommandSpec spec{"compare", "compare strategies side by side: fits or not and why, peak memory, streaming, ready and pass time",
                   "vramguard compare MODEL [--strategies balanced,auto,sequential-offload,multi-gpu] [options] [--measure] [--json]",
                   "Every strategy plans for the same model, devices and budget; each plan is validated. Strategy options: "
                   "--option NAME.KEY=VALUE or the config's [strategy.NAME] sections. Exit 1 when no strategy fits.",
                   [](CommandOptions& own) {
                     declare_planning_options(own);
                     declare_guard_options(own);
                     own.options.add_options()("strategies", po::value<std::string>()->value_name("LIST"),
                                               "comma-separated strategy names (default: every plugin found)")(
                         "measure", po::bool_switch(),
                         "also load each feasible strategy through the guard (alone, no fallback) and show the measured "
                         "load time and peak beside the predicted ones");
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
            for (const auto& entry : invocation.list("option")) {
              const auto eq = entry.find('=');
              if (entry.substr(0, eq).find('.') == std::string::npos && names.size() > 1)
                throw UsageError("--option '" + entry + "' names no strategy", "with several strategies, write NAME.KEY=VALUE");
            }
            std::vector<Row> rows;
            for (const auto& n : names) rows.push_back(evaluate(registry, n, setup, invocation));
            const bool measured = invocation.flag("measure");
            if (measured)
              for (auto& row : rows)
                if (row.feasible) row.measured = measure(registry, row.strategy, setup, invocation);
            // What auto would pick: its own row when it was compared, else one plan more.
            std::string auto_pick;
            if (registry.find("auto")) {
              const auto row = std::find_if(rows.begin(), rows.end(), [](const Row& r) { return r.strategy == "auto"; });
              auto_pick = row != rows.end() ? row->why : evaluate(registry, "auto", setup, invocation).why;
            }
            const bool any_fits = std::any_of(rows.begin(), rows.end(), [](const Row& r) { return r.feasible; });
            const bool simulated = setup.runtime == "simulated";
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
                if (row.prediction) r["predicted"] = prediction_json(*row.prediction);
                if (!row.minimum.empty()) {
                  r["minimum_bytes"] = nlohmann::json::object();
                  for (const auto& [device, bytes] : row.minimum) r["minimum_bytes"][device.str()] = bytes;
                }
                if (row.measured) {
                  nlohmann::json peaks = nlohmann::json::object();
                  for (const auto& [device, bytes] : row.measured->load_peak_bytes) peaks[device.str()] = bytes;
                  r["measured"] = {{"loaded", row.measured->loaded}, {"outcome", row.measured->outcome},
                                   {"load_seconds", row.measured->load_seconds}, {"load_peak_bytes", peaks},
                                   {"load_peak_includes_context", row.measured->process_bytes}, {"simulated", simulated}};
                }
                doc["strategies"].push_back(r);
              }
              doc["auto_picks"] = auto_pick;
              io.out << doc.dump(2) << "\n";
              return any_fits ? 0 : static_cast<int>(ExitCode::job_failed);
            }
            io.out << "Compare on " << setup.runtime << " devices:";
            for (const auto* gpu : gpus) io.out << " " << gpu->name() << " (" << gpu->description << ", usable " << format_bytes(gpu->usable_bytes) << ")";
            io.out << "\nModel: " << setup.model.source.argument << ", " << format_bytes(setup.model.graph.bytes()) << "\n";
            for (const auto& note : setup.notes) io.out << "note: " << note << "\n";
            io.out << "\n";
            std::vector<TextTable::Column> columns = {{"STRATEGY"}, {"FITS"}};
            for (const auto* gpu : gpus) columns.push_back({"PEAK " + gpu->name() + " GB", TextTable::Align::right});
            columns.push_back({"STREAMED/PASS GB", TextTable::Align::right});
            columns.push_back({"READY", TextTable::Align::right});
            columns.push_back({"PASS", TextTable::Align::right});
            if (measured) {
              for (const auto* gpu : gpus) columns.push_back({"LOAD PEAK " + gpu->name() + " GB pred/meas", TextTable::Align::right});
              columns.push_back({simulated ? "LOAD (simulated)" : "LOAD pred/meas", TextTable::Align::right});
            }
            TextTable table(columns);
            for (const auto& row : rows) {
              std::vector<std::string> cells = {row.strategy, row.feasible ? "yes" : "no"};
              for (const auto* gpu : gpus) cells.push_back(row.prediction ? format_gb(row.prediction->find(gpu->id)->peak_bytes) : "-");
              cells.push_back(row.prediction ? format_gb(row.prediction->streamed_bytes_per_step) : "-");
              cells.push_back(row.prediction ? format_seconds(row.prediction->ready_seconds) : "-");
              cells.push_back(row.prediction ? format_seconds(row.prediction->step_seconds) : "-");
              if (measured) {
                const bool loaded = row.measured && row.measured->loaded;
                for (const auto* gpu : gpus) {
                  if (!loaded) {
                    cells.push_back("-");
                    continue;
                  }
                  const auto it = row.measured->load_peak_bytes.find(gpu->id);
                  cells.push_back(format_gb(predicted_load_peak(*row.prediction, gpu->id, row.measured->process_bytes)) + " / " +
                                  (it == row.measured->load_peak_bytes.end() ? "-" : format_gb(it->second)));
                }
                cells.push_back(!loaded ? "-" : simulated ? format_seconds(row.prediction->ready_seconds) + " / -"
                                                          : format_seconds(row.prediction->ready_seconds) + " / " +
                                                                format_seconds(row.measured->load_seconds));
              }
              table.add(cells);
            }
            table.print(io.out);
            io.out << "\n";
            for (const auto& row : rows) {
              io.out << row.strategy << ": " << row.why << "\n";
              if (row.measured && !row.measured->loaded) io.out << "  measured: " << row.measured->outcome << "\n";
            }
            if (measured)
              io.out << "\nLoad peak: weights and windows" << (simulated ? "" : " (with the CUDA context where NVML reads the process)")
                     << ", before activations; PEAK adds the activation headroom." << (simulated ? " Load times on simulated devices are not measured." : "")
                     << "\n";
            if (!auto_pick.empty()) io.out << "\nauto would pick: " << auto_pick << "\n";
            if (!any_fits) throw JobError("no strategy fits " + setup.model.source.argument + " in this budget",
                                          "raise --max-memory, lower --reserve, free GPU memory, or allow --allow-cpu-compute");
            return 0;
          }};
}

}  // namespace vramguard
