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
  std::optional<std::string> component;        // which component; default: the first one a built-in family runs
  std::optional<std::string> entry;            // which entry point ("encode"); default: the family's first
  std::uint64_t tokens = 0;                    // text tokens per sample for generated inputs; 0: the family's default
  std::uint64_t batch = 1;
  std::uint64_t height = 0, width = 0;         // pixels, for generated inputs of image models; 0: the family's default
  std::uint64_t steps = 3;                     // calls of the entry; the first one warms up
  std::optional<std::filesystem::path> input;  // safetensors holding the entry's inputs by name
  std::optional<std::filesystem::path> output; // where to write the last call's outputs, by name
  std::uint64_t seed = 0;                      // for generated inputs
  bool every_component = false;                // every component a family runs, each of its entries (compare --measure)
  const std::atomic<bool>* cancel = nullptr;
};

struct StepRecord {
  double seconds = 0;            // wall clock, the GPU work included
  double compute_seconds = 0;    // the compute streams' own work, copy waits excluded
  double copy_wait_seconds = 0;  // the executor's thread waiting for fills to be issued
  std::uint64_t streamed_bytes = 0;
  std::uint64_t unprefetched_units = 0;  // streamed units copied on demand, not ahead
};

struct RunOutcome {
  std::string architecture;                    // the family that ran it: "qwenimage_transformer"
  std::string component;
  std::string entry;
  std::uint64_t batch = 0;
  std::uint64_t tokens = 0;                    // per sample and call; 0 for image models
  std::vector<StepRecord> steps;
  std::map<DeviceId, std::uint64_t> peak_bytes;  // ours at most during the steps, activations included
  std::vector<std::string> notes;
};

class ModelRunner {
 public:
  virtual ~ModelRunner() = default;
  virtual std::vector<std::string> architectures() const = 0;
  // Refuses, before anything loads, what cannot run: no family for the component (InputError listing
  // the families), an unknown component or entry, inputs that are missing, unknown or of the wrong
  // dtype or shape for the config, a tensor the checkpoint lacks.
  // Returns the activation bytes the calls predict from their inputs, the largest of them: the
  // headroom a GPU keeps for them.
  virtual std::uint64_t check(const InspectedModel& model, const RunSettings& settings) const = 0;
  // Runs settings.steps calls of the entry (of each, with every_component) under the placement. Throws OutOfMemory when a step does not
  // fit (the guard falls back), Interrupted when cancelled.
  virtual std::vector<RunOutcome> run(DeviceRuntime& runtime, const InspectedModel& model, const Placement& placement, LoadedModel& loaded,
                         const RunSettings& settings) = 0;
};

// The runtime library beside this binary; JobError when it is missing or from another build.
std::unique_ptr<ModelRunner> load_model_runner();

inline constexpr int kModelRunnerInterfaceVersion = 2;
std::uint64_t model_runner_layout_fingerprint();

}  // namespace vramguard
