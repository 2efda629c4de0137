#pragma once
// Running a loaded model, from the host's side: the runtime library (libvramguard_runtime.so, libtorch
// by nature) does the work; the CLI, which never links libtorch (its libraries would interpose on the
// host's own), opens it with dlopen and talks to it through this interface, checked like the CUDA
// runtime module before anything it made is used.
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "devices/device_runtime.hpp"
#include "load/loaded_model.hpp"
#include "model/model_inspector.hpp"

namespace vramguard {

struct RunSettings {
  std::uint64_t tokens = 0;                    // per sequence; 0: the adapter's default (128)
  std::uint64_t batch = 1;
  std::uint64_t steps = 3;                     // forward passes; the first one warms up
  std::optional<std::filesystem::path> input;  // safetensors with "input_ids" [batch, tokens] (I64 or I32)
  std::optional<std::filesystem::path> output; // where to write the last pass's "logits"
  std::uint64_t seed = 0;                      // for generated token ids
  const std::atomic<bool>* cancel = nullptr;
};

struct StepRecord {
  double seconds = 0;            // wall clock, the GPU work included
  double compute_seconds = 0;    // the compute streams' own work, copy waits excluded
  double copy_wait_seconds = 0;  // the executor's thread waiting for fills to be issued
  std::uint64_t streamed_bytes = 0;
};

struct RunOutcome {
  std::string adapter;
  std::string component;
  std::uint64_t batch = 0;
  std::uint64_t tokens = 0;
  std::vector<StepRecord> steps;
  std::map<DeviceId, std::uint64_t> peak_bytes;  // ours at most during the steps, activations included
  std::vector<std::string> notes;
};

class ModelRunner {
 public:
  virtual ~ModelRunner() = default;
  virtual std::vector<std::string> adapters() const = 0;
  // Refuses, before anything loads, what the model's adapter cannot run: no adapter for the
  // architecture (InputError listing the adapters), token ids outside the vocabulary, more tokens than
  // the model's positions, a unit missing a tensor the adapter needs.
  virtual void check(const InspectedModel& model, const RunSettings& settings) const = 0;
  // Runs settings.steps forward passes under the placement. Throws OutOfMemory when a step does not
  // fit (the guard falls back), Interrupted when cancelled.
  virtual RunOutcome run(DeviceRuntime& runtime, const InspectedModel& model, const Placement& placement, LoadedModel& loaded,
                         const RunSettings& settings) = 0;
};

// The runtime library beside this binary; JobError when it is missing or from another build.
std::unique_ptr<ModelRunner> load_model_runner();

inline constexpr int kModelRunnerInterfaceVersion = 1;
std::uint64_t model_runner_layout_fingerprint();

}  // namespace vramguard
