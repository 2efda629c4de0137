#pragma once
// The memory-guard pipeline: preflight → plan → validate → load → verify → report, one attempt per rung
// of a fallback ladder. An out-of-memory anywhere releases everything the attempt allocated, empties the allocator's
// cache, re-probes free memory and tries the next rung with the budget shrunk by the measured shortfall. Every stage
// records its time and a memory snapshot before and after. Ctrl-C (`cancel`) stops any stage; the report is still
// complete.
#include <cstdint>
#include <atomic>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "budget/budget_options.hpp"
#include "devices/device_runtime.hpp"
#include "load/loaded_model.hpp"
#include "model/model_inspector.hpp"
#include "plugins/plugin_registry.hpp"
#include "vramguard/cost_model.hpp"

namespace vramguard {

struct StageRecord {
  std::string stage;  // preflight, plan, validate, load, verify, release
  double seconds = 0;
  std::vector<MemorySnapshot> before, after;
  std::string outcome = "ok";
};

struct AttemptRecord {
  std::string strategy;
  std::string outcome;  // "loaded", or what stopped it
  std::vector<StageRecord> stages;
  std::optional<Placement> placement;
  std::optional<Prediction> prediction;
  DeviceBudget budget;
  std::map<DeviceId, std::uint64_t> measured_bytes;          // ours in use per GPU once loaded
  std::map<DeviceId, std::uint64_t> measured_process_bytes;  // all this process holds there (NVML), once loaded
  std::map<DeviceId, std::uint64_t> leaked_bytes;            // ours in use after release, above the baseline
  std::optional<DeviceId> oom_device;
  std::uint64_t shortfall_bytes = 0;
};

struct GuardReport {
  std::string model;
  std::string runtime;
  std::string allocator_settings;
  bool success = false;
  std::string final_strategy;
  std::vector<AttemptRecord> attempts;
  std::map<DeviceId, std::vector<GpuProcess>> other_processes;
  std::vector<MemorySnapshot> baseline;      // before anything was loaded
  std::vector<MemorySnapshot> after_unload;  // once the model was released (success only)
  LoadStatistics statistics;
  std::uint64_t verified_tensors = 0;
  bool data_verified = false;
  std::vector<std::string> fits_now;  // after a failure: strategies that would fit the budget re-probed
  std::vector<std::string> advice;    // what to do, when every rung failed
  std::vector<std::string> warnings;
  std::vector<std::string> notes;  // facts about the budget (assumed context size...)
};

struct GuardOptions {
  std::string strategy;               // the first attempt
  std::vector<std::string> fallback;  // the ladder after it
  std::size_t max_attempts = 4;
  BudgetOptions budget;
  Workload workload;
  bool verify_data = false;
  std::function<StrategyOptions(const std::string&)> strategy_options;
  std::function<void(std::uint64_t, std::uint64_t)> progress;
  const std::atomic<bool>* cancel = nullptr;
  std::optional<std::uint64_t> cpu_memory;      // declared host memory (simulated runs)
  std::optional<StreamSource> stream_source;    // overrides the cost model's choice (--stream-from)
  UploadPath upload_path = UploadPath::staged;  // --upload-from
};

// Thrown when no rung succeeded, or the run was interrupted or refused the user's input; carries the
// full report (the CLI writes it, then exits with the error's code).
class GuardFailure : public Error {
 public:
  GuardFailure(ExitCode code, const std::string& message, GuardReport report, std::string hint = {},
               bool memory = false)
      : Error(code, message, std::move(hint)), report_(std::move(report)), memory_(memory) {}
  const GuardReport& report() const { return report_; }
  // Every rung failed, and memory was why for at least one (it did not fit, or ran out).
  bool about_memory() const noexcept { return memory_; }

 private:
  GuardReport report_;
  bool memory_ = false;
};

struct GuardResult {
  LoadedModel model;
  Placement placement;
  GuardReport report;
};

class GuardPipeline {
 public:
  // `other_processes` replaces the runtime's own view of other processes (tests use it).
  GuardPipeline(DeviceRuntime& runtime, const PluginRegistry& registry, const InspectedModel& model,
                GuardOptions options, std::function<std::vector<GpuProcess>(int)> other_processes = {});
  // Loads the model; throws GuardFailure with the report when no rung succeeds.
  GuardResult run();
  // After `current` ran out of memory later on (a step of a session, runtime::Session::Impl::step —
  // the one place a run's out-of-memory is handled): releases it and continues the ladder from the
  // next rung. Throws GuardFailure when none is left.
  GuardResult fall_back(GuardResult& current, const OutOfMemory& error);
  // Unloads: releases the model and the allocator's cache, and records what is left in use.
  void unload(GuardResult& result);

 private:
  GuardResult climb(GuardReport report);
  void shrink_budget_after(const OutOfMemory& error, AttemptRecord& attempt);
  void advise(GuardReport& report);
  // Ends the process limits a load set (limit_process): what is released no longer needs them.
  void lift_process_limits();

  DeviceRuntime& runtime_;
  const PluginRegistry& registry_;
  const InspectedModel& model_;
  GuardOptions options_;
  std::function<std::vector<GpuProcess>(int)> other_processes_;
  std::vector<std::string> rungs_;
  std::size_t next_rung_ = 0;
  std::size_t gpu_count_ = 0;
  std::set<int> limited_gpus_;                          // the GPUs limit_process capped for this load
  BudgetOptions budget_options_;                        // shrinks after each out-of-memory
  std::map<DeviceId, std::uint64_t> smallest_minimum_;  // from the rungs that did not fit
};

}  // namespace vramguard
