#include "guard/guard_pipeline.hpp"

#include <algorithm>
#include <chrono>

#include "devices/host_memory.hpp"
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
  for (auto it = start == options.fallback.end() ? options.fallback.begin() : std::next(start); it != options.fallback.end(); ++it)
    if (std::find(rungs.begin(), rungs.end(), *it) == rungs.end()) rungs.push_back(*it);
  if (rungs.size() > options.max_attempts) rungs.resize(options.max_attempts);
  return rungs;
}

void advise(GuardReport& report, const std::map<std::string, std::uint64_t>& minimum) {
  for (const auto& attempt : report.attempts)
    if (attempt.oom_device)
      report.advice.push_back(attempt.strategy + " ran out of memory on " + *attempt.oom_device + ", short by " +
                              format_bytes(attempt.shortfall_bytes));
  for (const auto& [device, processes] : report.other_processes)
    for (const auto& p : processes)
      report.advice.push_back("process " + std::to_string(p.pid) + " (" + p.name + (p.user.empty() ? "" : ", user " + p.user) +
                              ") holds " + format_bytes(p.bytes) + " on " + device + ": stopping it frees that much");
  for (const auto& [device, bytes] : minimum)
    report.advice.push_back("the smallest plan tried needs " + format_bytes(bytes) + " usable on " + device +
                            ": raise its --max-memory, lower --reserve, or free that much");
  report.advice.push_back("sequential-offload with --option prefetch=0 needs the least GPU memory: one slot for the largest unit");
}

}  // namespace

GuardPipeline::GuardPipeline(DeviceRuntime& runtime, const PluginRegistry& registry, const InspectedModel& model,
                             GuardOptions options, std::function<std::vector<GpuProcess>(int)> other_processes)
    : runtime_(runtime), registry_(registry), model_(model), options_(std::move(options)), other_processes_(std::move(other_processes)) {}

GuardResult GuardPipeline::run() {
  GuardReport report;
  report.model = model_.source.argument;
  report.runtime = runtime_.name();
  report.allocator_settings = runtime_.allocator_settings();
  const std::size_t gpu_count = runtime_.probe_gpus().size();
  report.baseline = snapshots(runtime_, gpu_count);
  {
    for (std::size_t g = 0; g < gpu_count; ++g) {
      auto processes = other_processes_ ? other_processes_(static_cast<int>(g)) : runtime_.other_processes(static_cast<int>(g));
      std::uint64_t held = 0;
      for (const auto& p : processes) held += p.bytes;
      if (held > 0) {
        const std::string device = "cuda:" + std::to_string(g);
        report.warnings.push_back(std::to_string(processes.size()) + " other process(es) hold " + format_bytes(held) + " on " +
                                  device + ", which shrinks the budget");
        log::warn(report.warnings.back());
        report.other_processes[device] = std::move(processes);
      }
    }
  }

  BudgetOptions budget_options = options_.budget;
  std::map<std::string, std::uint64_t> smallest_minimum;
  for (const std::string& strategy_name : ladder(options_)) {
    AttemptRecord attempt;
    attempt.strategy = strategy_name;
    std::optional<LoadedModel> loaded;
    Placement placement;
    try {
      run_stage(attempt, "preflight", runtime_, gpu_count, [&] {
        HostMemoryReading host = read_host_memory();
        if (options_.cpu_memory) host.total_bytes = host.available_bytes = *options_.cpu_memory, host.cgroup_limit_bytes.reset();
        runtime_.prepare_transfers();  // the pinned staging ring is made here, not inside the timed load
        attempt.budget = build_budget(runtime_.probe_gpus(), cpu_device(host),
                                      disk_device(model_.source.root.empty() ? "." : model_.source.root), budget_options,
                                      model_.graph, options_.workload);
      });
      run_stage(attempt, "plan", runtime_, gpu_count, [&] {
        const StrategyInstance strategy = registry_.create(strategy_name);
        const StrategyOptions strategy_options = options_.strategy_options ? options_.strategy_options(strategy_name) : StrategyOptions{};
        placement = strategy.strategy().plan({model_.graph, attempt.budget, options_.workload, strategy_options});
      });
      run_stage(attempt, "validate", runtime_, gpu_count, [&] {
        attempt.prediction = validate_plan(model_.graph, attempt.budget, options_.workload, placement, strategy_name);
      });
      run_stage(attempt, "load", runtime_, gpu_count, [&] {
        LoadOptions load_options{options_.target_dtype, options_.progress, options_.cancel};
        loaded.emplace(load_placement(runtime_, model_, placement, attempt.budget, load_options));
      });
      for (std::size_t g = 0; g < gpu_count; ++g) {
        const auto snap = runtime_.snapshot(static_cast<int>(g));
        attempt.measured_bytes[snap.device] = snap.ours_in_use - std::min(snap.ours_in_use, report.baseline[g].ours_in_use);
        if (snap.process_total > 0) attempt.measured_process_bytes[snap.device] = snap.process_total;
      }
      run_stage(attempt, "verify", runtime_, gpu_count, [&] {
        report.verified_tensors = verify_loaded_model(runtime_, model_, placement, *loaded, options_.target_dtype, options_.verify_data);
        report.data_verified = options_.verify_data;
      });
      attempt.outcome = "loaded";
      report.statistics = loaded->statistics();
      report.success = true;
      report.final_strategy = strategy_name;
      report.attempts.push_back(std::move(attempt));
      if (loaded->statistics().pageable_bytes > 0)
        report.warnings.push_back(format_bytes(loaded->statistics().pageable_bytes) +
                                  " of streamed weights could not be pinned and sit in pageable memory (slower copies)");
      return {std::move(*loaded), std::move(report)};
    } catch (const NoFitError& e) {
      attempt.outcome = "does not fit: " + e.reason();
      for (const auto& [device, bytes] : e.minimum_bytes())
        if (!smallest_minimum.count(device) || bytes < smallest_minimum[device]) smallest_minimum[device] = bytes;
    } catch (const OutOfMemory& e) {
      attempt.outcome = e.what();
      attempt.oom_device = e.device();
      attempt.shortfall_bytes = e.requested() > e.free_bytes() ? e.requested() - e.free_bytes() : e.requested();
      // The next rung plans with that much less on the device that ran out.
      if (e.device() != "cpu") {
        auto& reserve = budget_options.reserve[e.device()];
        if (reserve == 0) reserve = budget_options.reserve_all.value_or(0);
        reserve += attempt.shortfall_bytes;
      }
      log::warn(strategy_name, ": ", e.what(), "; releasing everything and trying the next strategy");
    } catch (const InvalidPlanError& e) {
      attempt.outcome = e.what();
    } catch (const Interrupted&) {
      loaded.reset();
      runtime_.release_cached();
      throw;
    }
    // Whatever the attempt held goes back; the memory in use must return to the baseline.
    run_stage(attempt, "release", runtime_, gpu_count, [&] {
      loaded.reset();
      runtime_.synchronize();
      runtime_.release_cached();
    });
    for (std::size_t g = 0; g < gpu_count; ++g) {
      const auto snap = runtime_.snapshot(static_cast<int>(g));
      if (snap.ours_in_use > report.baseline[g].ours_in_use)
        attempt.leaked_bytes[snap.device] = snap.ours_in_use - report.baseline[g].ours_in_use;
    }
    report.attempts.push_back(std::move(attempt));
  }
  advise(report, smallest_minimum);
  std::string tried;
  for (const auto& a : report.attempts) tried += (tried.empty() ? "" : ", ") + a.strategy;
  throw GuardFailure("no strategy could load " + model_.source.argument + " (tried " + tried + ")", std::move(report));
}

void GuardPipeline::unload(GuardResult& result) {
  result.model.release();
  runtime_.synchronize();
  runtime_.release_cached();
  result.report.after_unload = snapshots(runtime_, result.report.baseline.size());
}

}  // namespace vramguard
