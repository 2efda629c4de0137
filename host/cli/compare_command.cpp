// `vramguard compare MODEL --strategies a,b,c`: the strategies side by side on the same model and budget.
#include <algorithm>
#include <cstdio>
#include <optional>
#include <ostream>

#include "budget/budget_options.hpp"
#include "cli/command.hpp"
#include "cli/guard_session.hpp"
#include "report/plan_report.hpp"
#include "engine/parallel_passes.hpp"
#include "engine/request_setup.hpp"
#include "report/table.hpp"
#include "core/errors.hpp"
#include "core/stop_signal.hpp"
#include "core/text.hpp"
#include "guard/guard_pipeline.hpp"
#include "guard/plan_validator.hpp"
#include "engine/strategy_fit.hpp"
#include "logging/log.hpp"
#include "run/runtime_library.hpp"
#include "run/run_summary.hpp"
#include "vramguard/byte_size.hpp"

namespace vramguard {

namespace {

// What a measured load (and run) showed, like for like with the predictions beside it.
struct Measured {
  bool loaded = false;
  std::string outcome;
  double load_seconds = 0;
  std::map<DeviceId, std::uint64_t>
      load_peak_bytes;           // this process on each GPU once loaded (NVML), else our allocations
  bool process_bytes = false;    // load_peak_bytes include the context (NVML)
  std::vector<RunSummary> runs;  // each component's entries, where a family runs them
  std::string run_note;          // why no pass was run
};

struct Row {
  std::string strategy;
  bool feasible = false;
  std::string why;  // the explanation, or why it does not fit
  std::optional<Prediction> prediction;
  std::map<DeviceId, std::uint64_t> minimum;
  std::optional<Measured> measured;
};

// Whether passes can be measured, and with what: a family for the components, and on simulated
// devices room in host memory for their bytes (the CPU computes in their place).
struct PassMeasurement {
  const RuntimeLibraryInterface* library = nullptr;
  RunSettings settings;
  std::string why_not;
};

PassMeasurement prepare_passes(const PlanningSetup& setup, const LoadRequest& request, const Invocation& invocation) {
  PassMeasurement passes;
  try {
    if (request.simulate) require_host_room_for_simulated_data(setup.model, "measuring passes");
    const RuntimeLibraryInterface& library = runtime_library();
    passes.settings.tokens = setup.workload.tokens;
    passes.settings.batch = setup.workload.batch;
    passes.settings.steps = invocation.number("steps", 2, 10'000).value_or(3);
    passes.settings.every_component = true;
    passes.settings.height = image_size_from(invocation).height;
    passes.settings.width = image_size_from(invocation).width;
    library.check(setup.model, passes.settings, compute_on(request));
    passes.library = &library;
  } catch (const InputError& e) {
    passes.why_not = e.what();
  } catch (const JobError& e) {
    passes.why_not = e.what();
  }
  return passes;
}

// --measure: load with this strategy alone (no fallback), run every component's entries that a family
// runs, then unload — in the runtime library's session, as `vramguard run` does; without a family, the
// guard's load alone.
Measured measure(const PluginRegistry& registry, const std::string& name, const PlanningSetup& setup,
                 const LoadRequest& compared, const PassMeasurement& passes) {
  Measured m;
  m.run_note = passes.why_not;
  LoadRequest request = compared;
  request.strategy = name;
  request.fallback.clear();
  request.max_attempts = 1;
  // NAME.KEY=VALUE settings are for NAME alone: no bare key applies to the one measured.
  request.option_settings.erase(std::remove_if(request.option_settings.begin(), request.option_settings.end(),
                                               [](const StrategyOptionSetting& s) { return !s.strategy; }),
                                request.option_settings.end());
  try {
    GuardReport report;
    std::vector<RunOutcome> outcomes;
    if (passes.library) {
      RunHooks hooks;
      hooks.cancel = &stop_flag();
      hooks.log_level = static_cast<int>(log::level());
      RunResult result = passes.library->run(request, setup.model, passes.settings, hooks);
      report = std::move(result.report);
      outcomes = std::move(result.outcomes);
    } else {
      auto runtime = make_runtime(request);
      GuardOptions options = guard_options_from(request, registry);
      options.cancel = &stop_flag();
      GuardPipeline pipeline(*runtime, registry, setup.model, options);
      GuardResult result = pipeline.run();
      pipeline.unload(result);
      report = std::move(result.report);
    }
    const AttemptRecord& attempt = report.attempts.back();
    m.loaded = true;
    m.outcome = "loaded";
    m.load_seconds = report.statistics.seconds;
    m.process_bytes = !attempt.measured_process_bytes.empty();
    m.load_peak_bytes = m.process_bytes ? attempt.measured_process_bytes : attempt.measured_bytes;
    for (const auto& outcome : outcomes)
      if (!outcome.steps.empty()) m.runs.push_back(summarize_run(outcome, *attempt.prediction, attempt.budget));
  } catch (const GuardFailure& failure) {
    if (failure.exit_code() == ExitCode::interrupted) throw;
    m.outcome = failure.report().attempts.empty() ? failure.what() : failure.report().attempts.back().outcome;
  }
  return m;
}

Row evaluate(const PluginRegistry& registry, const std::string& name, const PlanningSetup& setup,
             const LoadRequest& request) {
  StrategyFit fit = evaluate_strategy(registry, name, setup.model.graph, setup.budget, setup.workload,
                                      request.strategy_options_for(name, false));
  Row row;
  row.strategy = name;
  row.feasible = fit.fits;
  row.why = std::move(fit.why);
  row.prediction = std::move(fit.prediction);
  row.minimum = std::move(fit.minimum);
  return row;
}

// One pass of every component that ran, each at its median.
double one_pass_of_each(const std::vector<RunSummary>& runs) {
  double seconds = 0;
  for (const auto& run : runs) seconds += run.median_step_seconds;
  return seconds;
}

// The peak the load itself reaches: what a measured load can be held against (activations come later).
std::uint64_t predicted_load_peak(const Prediction& prediction, DeviceId device, bool with_context) {
  const auto* d = prediction.find(device);
  if (d == nullptr || d->peak_bytes == 0) return 0;
  return d->resident_bytes + d->window_bytes + (with_context ? d->context_bytes : 0);
}

// The load, then each component's passes: one for a component the job does not name.
double job_seconds(const Prediction& prediction) { return prediction.ready_seconds + prediction.job_seconds; }

// What to load with, as doctor and fix say it (engine/strategy_fit: pick_strategy).
std::string pick_against(const std::vector<Row>& rows, const std::string& yours, bool job) {
  std::vector<StrategyFit> fits;
  for (const auto& row : rows) fits.push_back({row.strategy, row.feasible, row.why, row.prediction, row.minimum});
  const auto verdict = pick_strategy(fits, yours, job);
  return verdict ? verdict->text : std::string();
}

}  // namespace

Command compare_command() {
  CommandSpec spec{
      "compare", "compare strategies side by side: fits or not and why, peak memory, streaming, ready and pass time",
      "vramguard compare MODEL [--strategies balanced,auto,sequential-offload,multi-gpu] [options] [--measure] "
      "[--json]",
      "Every strategy plans for the same model, devices and budget; each plan is validated. Strategy options: "
      "--option NAME.KEY=VALUE or the config's [strategy.NAME] sections. Exit 1 when no strategy fits.",
      [](CommandOptions& own) {
        declare_planning_options(own);
        declare_guard_options(own);
        declare_image_size_options(own);
        // clang-format off
        own.options.add_options()
            ("strategies", po::value<std::string>()->value_name("LIST"),
                "comma-separated strategy names (default: every plugin found)")
            ("strategy", po::value<std::string>()->value_name("S"),
                "the strategy you load with (a config's `strategy` key counts): its row is marked, and the pick is "
                "weighed against it")
            ("measure", po::bool_switch(),
                "also load each feasible strategy through the guard (alone, no fallback), run forward passes where a "
                "family runs the components (each entry of each), and show the measured pass time, peak and load "
                "time beside the predicted ones")
            ("cfg-parallel", po::value<std::string>()->value_name("COMPONENT"),
                "also weigh CFG-parallel on two GPUs: COMPONENT's passes (--job's, e.g. the transformer's 2 x steps "
                "with true CFG) two at once, the component again alone on the last GPU, against the one load of "
                "--strategy (default auto)")
            ("steps", po::value<std::string>()->value_name("K")->default_value("3"),
                "with --measure: forward passes per strategy (2-10000); the first warms up");
        // clang-format on
      }};
  return {
      spec, [](const Invocation& invocation, CommandIO& io) {
        const LoadRequest request = load_request_from(invocation);
        PlanningSetup setup = prepare_planning(request);
        // --job (a planning option): the JOB column adds the load, and the pick weighs jobs.
        const bool job = request.job_given;
        const PluginRegistry registry = discover_plugins(request.plugins);
        std::vector<std::string> names = registry.names();
        if (const auto list = invocation.text("strategies")) {
          names.clear();
          for (const auto& n : text::split(*list, ','))
            if (!text::trim(n).empty()) names.emplace_back(text::trim(n));
          for (const auto& n : names) (void)registry.create(n);  // an unknown name is a usage error, with suggestions
        }
        if (names.empty()) throw UsageError("no strategies to compare", "no plugin was found; see `vramguard plugins`");
        for (const auto& setting : request.option_settings)
          if (!setting.strategy && names.size() > 1)
            throw UsageError("--option '" + setting.key + "=" + setting.value + "' names no strategy",
                             "with several strategies, write NAME.KEY=VALUE");
        std::vector<Row> rows;
        for (const auto& n : names) rows.push_back(evaluate(registry, n, setup, request));
        const bool measured = invocation.flag("measure");
        if (measured) {
          const PassMeasurement passes = prepare_passes(setup, request, invocation);
          for (auto& row : rows)
            if (row.feasible) row.measured = measure(registry, row.strategy, setup, request, passes);
        }
        // What auto would pick: its own row when it was compared, else one plan more.
        std::string auto_pick;
        if (registry.find("auto")) {
          const auto row = std::find_if(rows.begin(), rows.end(), [](const Row& r) { return r.strategy == "auto"; });
          auto_pick = row != rows.end() ? row->why : evaluate(registry, "auto", setup, request).why;
        }
        const bool any_fits = std::any_of(rows.begin(), rows.end(), [](const Row& r) { return r.feasible; });
        const std::string yours = request.strategy_given ? request.strategy : std::string();
        const std::string pick = pick_against(rows, yours, job);
        const bool simulated = setup.runtime == "simulated";
        const auto gpus = setup.budget.gpus();
        std::optional<ParallelPassesChoice> parallel;
        if (const auto component = invocation.text("cfg-parallel"))
          parallel = choose_parallel_passes(request, halved_passes(request, *component), ParallelPassesMode::automatic);

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
            if (row.prediction && job) r["predicted_job_seconds"] = job_seconds(*row.prediction);
            if (!row.minimum.empty()) {
              r["minimum_bytes"] = nlohmann::json::object();
              for (const auto& [device, bytes] : row.minimum) r["minimum_bytes"][device.str()] = bytes;
            }
            if (row.measured) {
              nlohmann::json peaks = nlohmann::json::object();
              for (const auto& [device, bytes] : row.measured->load_peak_bytes) peaks[device.str()] = bytes;
              r["measured"] = {{"loaded", row.measured->loaded},
                               {"outcome", row.measured->outcome},
                               {"load_seconds", row.measured->load_seconds},
                               {"load_peak_bytes", peaks},
                               {"load_peak_includes_context", row.measured->process_bytes},
                               {"simulated", simulated}};
              if (!row.measured->runs.empty()) {
                r["measured"]["runs"] = nlohmann::json::array();
                for (const auto& run : row.measured->runs) r["measured"]["runs"].push_back(run_summary_json(run));
              } else if (!row.measured->run_note.empty()) r["measured"]["run_not_measured"] = row.measured->run_note;
            }
            doc["strategies"].push_back(r);
          }
          doc["auto_picks"] = auto_pick;
          if (!yours.empty()) doc["yours"] = yours;
          doc["pick"] = pick;
          if (parallel)
            doc["cfg_parallel"] = {{"faster", parallel->parallel},
                                   {"why", parallel->why},
                                   {"predicted_one_load_seconds", parallel->one_load_seconds},
                                   {"predicted_parallel_seconds", parallel->parallel_seconds}};
          io.out << doc.dump(2) << "\n";
          return any_fits ? 0 : static_cast<int>(ExitCode::job_failed);
        }
        io.out << "Compare on " << setup.runtime << " devices:";
        for (const auto* gpu : gpus)
          io.out << "\n  " << gpu->name() << " (" << gpu->description << "), " << explain_usable(*gpu);
        io.out << "\nModel: " << setup.model.source.argument << ", " << format_bytes(setup.model.graph.bytes()) << "\n";
        for (const auto& note : setup.notes) io.out << "note: " << note << "\n";
        io.out << "\n";
        // With --measure, each figure is shown predicted / measured, like for like: peaks without the
        // CUDA context (ours, activations included when passes ran; weights and windows when they
        // could not), pass and load times on real GPUs only.
        const bool any_run =
            std::any_of(rows.begin(), rows.end(), [](const Row& r) { return r.measured && !r.measured->runs.empty(); });
        std::vector<TextTable::Column> columns = {{"STRATEGY"}, {"FITS"}};
        for (const auto* gpu : gpus)
          columns.push_back({"PEAK " + gpu->name() + " GB" + (measured ? " pred/meas" : ""), TextTable::Align::right});
        columns.push_back({"STREAMED/PASS GB", TextTable::Align::right});
        columns.push_back({measured && !simulated ? "READY pred/meas" : "READY", TextTable::Align::right});
        columns.push_back({measured && !simulated && any_run ? "PASS pred/meas" : "PASS", TextTable::Align::right});
        if (job) columns.push_back({"JOB", TextTable::Align::right});
        TextTable table(columns);
        for (const auto& row : rows) {
          std::vector<std::string> cells = {row.strategy + (row.strategy == yours ? " *" : ""),
                                            row.feasible ? "yes" : "no"};
          const Measured* m = row.measured && row.measured->loaded ? &*row.measured : nullptr;
          for (const auto* gpu : gpus) {
            if (!row.prediction) {
              cells.push_back("-");
              continue;
            }
            const DevicePrediction* d = row.prediction->find(gpu->id);
            if (!measured) {
              cells.push_back(format_gb(d->peak_bytes));
              continue;
            }
            if (m != nullptr && !m->runs.empty()) {
              // The largest of the components' passes, predicted and measured.
              std::uint64_t predicted = 0, measured_bytes = 0;
              for (const auto& run : m->runs)
                if (const auto it = run.peaks.find(gpu->id); it != run.peaks.end())
                  predicted = std::max(predicted, it->second.predicted_bytes),
                  measured_bytes = std::max(measured_bytes, it->second.measured_bytes);
              cells.push_back(format_gb(predicted) + " / " + format_gb(measured_bytes));
            } else if (m != nullptr) {
              const auto it = m->load_peak_bytes.find(gpu->id);
              cells.push_back(format_gb(predicted_load_peak(*row.prediction, gpu->id, m->process_bytes)) + " / " +
                              (it == m->load_peak_bytes.end() ? "-" : format_gb(it->second)) + " (load)");
            } else {
              cells.push_back(format_gb(d->peak_bytes - d->context_bytes) + " / -");
            }
          }
          cells.push_back(row.prediction ? format_gb(row.prediction->streamed_bytes_per_step) : "-");
          std::string ready = row.prediction ? format_seconds(row.prediction->ready_seconds) : "-";
          if (measured && !simulated && row.prediction)
            ready += " / " + (m ? format_seconds(m->load_seconds) : std::string("-"));
          cells.push_back(ready);
          std::string pass = row.prediction ? format_seconds(row.prediction->step_seconds) : "-";
          if (measured && !simulated && any_run && row.prediction)
            pass += " / " + (m && !m->runs.empty() ? format_seconds(one_pass_of_each(m->runs)) : std::string("-"));
          cells.push_back(pass);
          if (job) cells.push_back(row.prediction ? format_seconds(job_seconds(*row.prediction)) : "-");
          table.add(cells);
        }
        table.print(io.out);
        io.out << "\n";
        for (const auto& row : rows) {
          io.out << row.strategy << ": " << row.why << "\n";
          if (row.measured && !row.measured->loaded) io.out << "  measured: " << row.measured->outcome << "\n";
        }
        if (measured) {
          io.out << "\nPEAK pred/meas: ours on the GPU without the CUDA context: "
                 << (any_run ? "weights, windows and the passes' activations"
                             : "weights and windows once loaded (marked load)")
                 << (any_run ? "; PASS: one pass of each component, each the median of its passes after the first."
                             : ".");
          if (simulated)
            io.out << " Times on simulated devices are not measured (the CPU computes in the GPUs' place).";
          io.out << "\n";
          for (const auto& row : rows)
            if (row.measured && row.measured->loaded && row.measured->runs.empty() && !row.measured->run_note.empty()) {
              io.out << "No passes measured: " << row.measured->run_note << "\n";
              break;
            }
          for (const auto& row : rows)
            if (row.measured && !row.measured->runs.empty()) {
              io.out << row.strategy << " measured:";
              for (const auto& run : row.measured->runs)
                io.out << " " << run.component << "." << run.entry << " "
                       << (simulated ? std::string("ran") : format_seconds(run.median_step_seconds));
              io.out << "\n";
            }
        }
        // auto's choice is its row's explanation when auto was compared; said once.
        const bool auto_compared =
            std::any_of(rows.begin(), rows.end(), [](const Row& r) { return r.strategy == "auto"; });
        if (!auto_pick.empty() && !auto_compared) io.out << "\nauto would pick: " << auto_pick << "\n";
        if (!yours.empty()) io.out << "\n* " << yours << ": the strategy you load with (--strategy or the config's)";
        if (!pick.empty()) io.out << "\n" << pick << "\n";
        if (parallel) io.out << "\n" << parallel->why << "\n";
        if (!any_fits)
          throw JobError("no strategy fits " + setup.model.source.argument + " in this budget",
                         "raise --max-memory, lower --reserve, free GPU memory, or allow --allow-cpu-compute");
        return 0;
      }};
}

}  // namespace vramguard
