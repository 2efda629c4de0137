#include "guard/guard_pipeline.hpp"

#include <algorithm>
#include <chrono>

#include "guard/plan_validator.hpp"
#include "guard/verify.hpp"
#include "logging/log.hpp"
#include "vramguard/byte_size.hpp"

namespace vramguard {
namespace {

std::vector<MemorySnapshot> snapshots(DeviceRuntime& runtime, std::size_t gpus) {
  std::vector<MemorySnapshot> out;
  for (std::size_t g = 0; g < gpus; ++g) out.push_back(runtime.snapshot(static_cast<int>(g)));
  return out;
}

// Runs one stage, recording its time and the memory before and after, whatever happens.
template <typename Body>
void run_stage(AttemptRecord& attempt, const std::string& name, DeviceRuntime& runtime, std::size_t gpus, Body&& body) {
  StageRecord record;
  record.stage = name;
  record.before = snapshots(runtime, gpus);
  log::info(attempt.strategy, ": ", name, "...");
  const auto started = std::chrono::steady_clock::now();
  auto finish = [&](std::string outcome) {
    record.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    record.after = snapshots(runtime, gpus);
    record.outcome = std::move(outcome);
    log::debug(attempt.strategy, ": ", name, " took ", record.seconds, " s: ", record.outcome);
    attempt.stages.push_back(std::move(record));
  };
  try {
    body();
  } catch (const std::exception& e) {
    finish(e.what());
    throw;
  }
  finish("ok");
}

std::vector<std::string> ladder(const GuardOptions& options) {
  std::vector<std::string> rungs = {options.strategy};
  const auto start = std::find(options.fallback.begin(), options.fallback.end(), options.strategy);
  for (auto it = start == options.fallback.end() ? options.fallback.begin() : std::next(start);
       it != options.fallback.end(); ++it)
    if (std::find(rungs.begin(), rungs.end(), *it) == rungs.end()) rungs.push_back(*it);
  if (rungs.size() > options.max_attempts) rungs.resize(options.max_attempts);
  return rungs;
}

}  // namespace

GuardPipeline::GuardPipeline(DeviceRuntime& runtime, const PluginRegistry& registry, const InspectedModel& model,
                             GuardOptions options, std::function<std::vector<GpuProcess>(int)> other_processes)
    : runtime_(runtime),
      registry_(registry),
      model_(model),
      options_(std::move(options)),
      other_processes_(std::move(other_processes)),
      rungs_(ladder(options_)),
      budget_options_(options_.budget) {}

GuardResult GuardPipeline::run() {
  GuardReport report;
  report.model = model_.source.argument;
  report.runtime = runtime_.name();
  report.allocator_settings = runtime_.allocator_settings();
  gpu_count_ = runtime_.probe_gpus().size();
  report.baseline = snapshots(runtime_, gpu_count_);
  for (std::size_t g = 0; g < gpu_count_; ++g) {
    auto processes =
        other_processes_ ? other_processes_(static_cast<int>(g)) : runtime_.other_processes(static_cast<int>(g));
    std::uint64_t held = 0;
    for (const auto& p : processes) held += p.bytes;
    if (held == 0) continue;
    const DeviceId device = DeviceId::gpu(static_cast<int>(g));
    report.warnings.push_back(std::to_string(processes.size()) + " other process(es) hold " + format_bytes(held) +
                              " on " + device.str() + ", which shrinks the budget");
    log::warn(report.warnings.back());
    report.other_processes[device] = std::move(processes);
  }
  next_rung_ = 0;
  return climb(std::move(report));
}

void GuardPipeline::shrink_budget_after(const OutOfMemory& error, AttemptRecord& attempt) {
  attempt.outcome = error.what();
  attempt.oom_device = error.device();
  attempt.shortfall_bytes =
      error.requested() > error.free_bytes() ? error.requested() - error.free_bytes() : error.requested();
  // The next rung plans with that much less on the device that ran out.
  if (error.device().is_gpu()) {
    auto& reserve = budget_options_.reserve[error.device()];
    if (reserve == 0) reserve = budget_options_.reserve_all.value_or(0);
    reserve += attempt.shortfall_bytes;
  }
}

GuardResult GuardPipeline::climb(GuardReport report) {
  // Whether memory was why a rung failed (it did not fit, or ran out), a step's fall-back included.
  bool memory_failures = std::any_of(report.attempts.begin(), report.attempts.end(),
                                     [](const AttemptRecord& a) { return a.oom_device.has_value(); });
  while (next_rung_ < rungs_.size()) {
    const std::string strategy_name = rungs_[next_rung_++];
    AttemptRecord attempt;
    attempt.strategy = strategy_name;
    std::optional<LoadedModel> loaded;
    Placement placement;
    auto release = [&] {
      // Whatever the attempt held goes back; the memory in use must return to the baseline.
      run_stage(attempt, "release", runtime_, gpu_count_, [&] {
        loaded.reset();
        runtime_.synchronize();
        lift_process_limits();
        runtime_.release_cached();
      });
      for (std::size_t g = 0; g < gpu_count_; ++g) {
        const auto snap = runtime_.snapshot(static_cast<int>(g));
        if (snap.ours_in_use > report.baseline[g].ours_in_use)
          attempt.leaked_bytes[snap.device] = snap.ours_in_use - report.baseline[g].ours_in_use;
      }
    };
    try {
      run_stage(attempt, "preflight", runtime_, gpu_count_, [&] {
        runtime_.prepare_transfers();  // the pinned staging ring is made here, not inside the timed load
        std::vector<std::string> notes;
        attempt.budget =
            probe_budget(runtime_, model_, budget_options_, options_.workload, options_.cpu_memory, &notes);
        if (report.notes.empty()) {
          report.notes = model_.notes;
          report.notes.insert(report.notes.end(), notes.begin(), notes.end());
        }
      });
      run_stage(attempt, "plan", runtime_, gpu_count_, [&] {
        const StrategyInstance strategy = registry_.create(strategy_name);
        const StrategyOptions strategy_options =
            options_.strategy_options ? options_.strategy_options(strategy_name) : StrategyOptions{};
        placement = strategy.plan({model_.graph, attempt.budget, options_.workload, strategy_options}, options_.cancel);
      });
      run_stage(attempt, "validate", runtime_, gpu_count_, [&] {
        attempt.prediction = validate_plan(model_.graph, attempt.budget, options_.workload, placement, strategy_name);
        // --stream-from overrides the cost model's choice: predict what will actually run.
        if (options_.stream_source)
          attempt.prediction = predict(model_.graph, attempt.budget, placement, options_.workload,
                                       default_cost_constants(), options_.stream_source);
      });
      attempt.placement = placement;
      run_stage(attempt, "load", runtime_, gpu_count_, [&] {
        // A cap (max_memory) holds as the driver counts it: the context and everything the allocator
        // holds, its cache included, stay within it from the first upload to the last step.
        for (const auto* gpu : attempt.budget.gpus()) {
          runtime_.limit_process(gpu->id.index, gpu->cap_bytes.value_or(0));
          limited_gpus_.insert(gpu->id.index);
        }
        PlacementLoadOptions load_options{
            model_.graph.target_dtype, options_.stream_source.value_or(attempt.prediction->stream_source),
            attempt.budget.can_register_mappings ? options_.upload_path : UploadPath::staged, options_.progress,
            options_.cancel};
        loaded.emplace(load_placement(runtime_, model_, placement, attempt.budget, load_options));
      });
      for (std::size_t g = 0; g < gpu_count_; ++g) {
        const auto snap = runtime_.snapshot(static_cast<int>(g));
        attempt.measured_bytes[snap.device] =
            snap.ours_in_use - std::min(snap.ours_in_use, report.baseline[g].ours_in_use);
        if (snap.process_total > 0) attempt.measured_process_bytes[snap.device] = snap.process_total;
      }
      run_stage(attempt, "verify", runtime_, gpu_count_, [&] {
        report.verified_tensors =
            verify_loaded_model(runtime_, model_, placement, *loaded, options_.verify_data, options_.cancel);
        report.data_verified = options_.verify_data;
      });
      attempt.outcome = "loaded";
      report.statistics = loaded->statistics();
      report.success = true;
      report.final_strategy = strategy_name;
      report.attempts.push_back(std::move(attempt));
      if (loaded->statistics().pageable_bytes > 0)
        report.warnings.push_back(
            format_bytes(loaded->statistics().pageable_bytes) +
            " of streamed weights could not be pinned and sit in pageable memory (slower copies)");
      if (!loaded->statistics().stream_source_note.empty())
        report.warnings.push_back(loaded->statistics().stream_source_note);
      return {std::move(*loaded), std::move(placement), std::move(report)};
    } catch (const NoFitError& e) {
      memory_failures = true;
      attempt.outcome = "does not fit: " + e.reason();
      for (const auto& [device, bytes] : e.minimum_bytes())
        if (!smallest_minimum_.count(device) || bytes < smallest_minimum_[device]) smallest_minimum_[device] = bytes;
    } catch (const OutOfMemory& e) {
      memory_failures = true;
      shrink_budget_after(e, attempt);
      log::warn(strategy_name, ": ", e.what(), "; releasing everything and trying the next strategy");
    } catch (const InvalidPlanError& e) {
      attempt.outcome = e.what();
    } catch (const PluginError& e) {
      attempt.outcome = e.what();  // a broken plugin does not stop the ladder
    } catch (const Interrupted& e) {
      attempt.outcome = e.what();
      release();
      report.attempts.push_back(std::move(attempt));
      throw GuardFailure(ExitCode::interrupted, e.what(), std::move(report));
    } catch (const Error& e) {
      // The user's input (a strategy option, a changed checkpoint...) or a failure no rung can avoid.
      attempt.outcome = e.what();
      release();
      report.attempts.push_back(std::move(attempt));
      throw GuardFailure(e.exit_code(), e.what(), std::move(report), e.hint());
    }
    release();
    report.attempts.push_back(std::move(attempt));
  }
  advise(report);
  std::string tried;
  for (const auto& a : report.attempts) tried += (tried.empty() ? "" : ", ") + a.strategy;
  std::string hint = "see the attempts and 'What to do' in the report";
  if (!report.advice.empty()) {
    hint = "";
    for (const auto& line : report.advice) hint += (hint.empty() ? "" : "; ") + line;
  }
  throw GuardFailure(ExitCode::job_failed,
                     "no strategy could load " + model_.source.argument + " (tried " + tried + ")", std::move(report),
                     hint, memory_failures);
}

GuardResult GuardPipeline::fall_back(GuardResult& current, const OutOfMemory& error) {
  GuardReport report = std::move(current.report);
  report.success = false;
  if (!report.attempts.empty()) {
    AttemptRecord& attempt = report.attempts.back();
    shrink_budget_after(error, attempt);
    run_stage(attempt, "release", runtime_, gpu_count_, [&] {
      current.model.release();
      runtime_.synchronize();
      lift_process_limits();
      runtime_.release_cached();
    });
  }
  log::warn(error.what(), "; released everything, falling back to the next strategy");
  return climb(std::move(report));
}

void GuardPipeline::advise(GuardReport& report) {
  for (const auto& attempt : report.attempts)
    if (attempt.oom_device)
      report.advice.push_back(attempt.strategy + " ran out of memory on " + attempt.oom_device->str() + ", short by " +
                              format_bytes(attempt.shortfall_bytes));
  // Who shrank the budget, now: the processes holding memory, and what stopping each would give back.
  for (std::size_t g = 0; g < gpu_count_; ++g) {
    const DeviceId device = DeviceId::gpu(static_cast<int>(g));
    auto processes =
        other_processes_ ? other_processes_(static_cast<int>(g)) : runtime_.other_processes(static_cast<int>(g));
    std::sort(processes.begin(), processes.end(),
              [](const GpuProcess& a, const GpuProcess& b) { return a.bytes > b.bytes; });
    if (!processes.empty()) report.other_processes[device] = processes;
    for (const auto& p : processes)
      report.advice.push_back("process " + std::to_string(p.pid) + " (" + p.name +
                              (p.user.empty() ? "" : ", user " + p.user) + ") holds " + format_bytes(p.bytes) + " on " +
                              device.str() + ": stopping it frees that much" +
                              " (vramguard fix --terminate-own stops your own)");
  }
  for (const auto& [device, bytes] : smallest_minimum_)
    report.advice.push_back("the smallest plan tried needs " + format_bytes(bytes) + " usable on " + device.str() +
                            ": raise its --max-memory, lower --reserve, or free that much");
  // Which strategies would fit the budget as it is now, planned again from a fresh probe.
  try {
    const DeviceBudget now = probe_budget(runtime_, model_, options_.budget, options_.workload, options_.cpu_memory);
    for (const auto& name : registry_.names()) {
      try {
        const StrategyInstance strategy = registry_.create(name);
        const StrategyOptions options = options_.strategy_options ? options_.strategy_options(name) : StrategyOptions{};
        const Placement placement = strategy.plan({model_.graph, now, options_.workload, options}, options_.cancel);
        validate_plan(model_.graph, now, options_.workload, placement, name);
        report.fits_now.push_back(name);
      } catch (const NoFitError&) {
      } catch (const InvalidPlanError&) {
      } catch (const StrategyOptionError&) {
      } catch (const PluginError&) {
      }
    }
  } catch (const Interrupted&) {
    throw;
  } catch (const Error& e) {
    log::debug("could not plan again after the failure: ", e.what());
  }
  if (!report.fits_now.empty())
    report.advice.push_back("with the memory free now, these would fit: " +
                            [&] {
                              std::string list;
                              for (const auto& n : report.fits_now) list += (list.empty() ? "" : ", ") + n;
                              return list;
                            }() +
                            " (--strategy " + report.fits_now.front() + ")");
  else
    report.advice.push_back(
        "sequential-offload with --option prefetch=0 needs the least GPU memory: one slot for the largest unit");
}

void GuardPipeline::lift_process_limits() {
  // Only those this load limited: another load in the process (the second GPU's transformer of a
  // CFG-parallel edit) keeps its own.
  for (const int gpu : limited_gpus_) runtime_.limit_process(gpu, 0);
  limited_gpus_.clear();
}

void GuardPipeline::unload(GuardResult& result) {
  result.model.release();
  runtime_.synchronize();
  lift_process_limits();
  runtime_.release_cached();
  result.report.after_unload = snapshots(runtime_, result.report.baseline.size());
}

}  // namespace vramguard
