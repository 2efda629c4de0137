#pragma once
// The memory-guard pipeline: preflight → plan → validate → load → verify → report, one attempt per
// rung of a fallback ladder. An out-of-memory anywhere releases everything the attempt allocated,
// empties the allocator's cache, re-probes free memory and tries the next rung with the budget
// shrunk by the measured shortfall. Every stage records its time and a memory snapshot before and after.
#include <atomic>
#include <functional>
#include <map>
#include <optional>
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
  std::optional<Prediction> prediction;
  DeviceBudget budget;
  std::map<std::string, std::uint64_t> measured_bytes;  // ours in use per GPU once loaded
  std::map<std::string, std::uint64_t> measured_process_bytes;  // all this process holds there (NVML), once loaded
  std::map<std::string, std::uint64_t> leaked_bytes;    // ours in use after release, above the baseline
  std::optional<std::string> oom_device;
  std::uint64_t shortfall_bytes = 0;
};

struct GuardReport {
  std::string model;
  std::string runtime;
  std::string allocator_settings;
  bool success = false;
  std::string final_strategy;
  std::vector<AttemptRecord> attempts;
  std::map<std::string, std::vector<GpuProcess>> other_processes;
  std::vector<MemorySnapshot> baseline;       // before anything was loaded
  std::vector<MemorySnapshot> after_unload;   // once the model was released (success only)
  LoadStatistics statistics;
  std::uint64_t verified_tensors = 0;
  bool data_verified = false;
  std::vector<std::string> advice;            // what to do, when every rung failed
  std::vector<std::string> warnings;
};

struct GuardOptions {
  std::string strategy;                      // the first attempt
  std::vector<std::string> fallback;         // the ladder after it
  std::size_t max_attempts = 4;
  BudgetOptions budget;
  Workload workload;
  std::optional<DType> target_dtype;
  bool verify_data = false;
  std::function<StrategyOptions(const std::string&)> strategy_options;
  std::function<void(std::uint64_t, std::uint64_t)> progress;
  const std::atomic<bool>* cancel = nullptr;
  std::optional<std::uint64_t> cpu_memory;   // declared host memory (simulated runs)
};

// Thrown when every rung failed; carries the full report (the CLI prints it and exits 1).
class GuardFailure : public JobError {
 public:
  GuardFailure(const std::string& message, GuardReport report) : JobError(message), report_(std::move(report)) {}
  const GuardReport& report() const { return report_; }

 private:
  GuardReport report_;
};

struct GuardResult {
  LoadedModel model;
  GuardReport report;
};

class GuardPipeline {
 public:
  // `other_processes` replaces the runtime's own view of other processes (tests use it).
  GuardPipeline(DeviceRuntime& runtime, const PluginRegistry& registry, const InspectedModel& model, GuardOptions options,
                std::function<std::vector<GpuProcess>(int)> other_processes = {});
  // Loads the model; throws GuardFailure with the report when no rung succeeds.
  GuardResult run();
  // Unloads: releases the model and the allocator's cache, and records what is left in use.
  void unload(GuardResult& result);

 private:
  DeviceRuntime& runtime_;
  const PluginRegistry& registry_;
  const InspectedModel& model_;
  GuardOptions options_;
  std::function<std::vector<GpuProcess>(int)> other_processes_;
};

}  // namespace vramguard
