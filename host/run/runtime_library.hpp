#pragma once
// The CLI's way into the libtorch side. The runtime library (libvramguard_runtime.so, libtorch by
// nature) opens a runtime::Session for a request — the guard's load with its fallback ladder — and runs
// the components' families (architectures/) in it; the CLI, which never links libtorch (its libraries
// would interpose on the host's own), opens the library with dlopen and reaches it through one
// interface struct, checked (version and layout) before anything it returns is used.
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "guard/guard_pipeline.hpp"
#include "model/model_inspector.hpp"
#include "pipeline_job.hpp"
#include "request/load_request.hpp"

namespace vramguard {

// Where a job's GPU passes compute: on the GPUs themselves, or on the CPU in simulated GPUs' place
// (--simulate), and what --fp8-compute asks there. Their calls hold different temporaries (this
// build's fused kernels run only on GPUs; an fp8 matmul's input is held in fp8), so a check predicts
// the activations of the one the job runs on.
struct ComputeOn {
  bool gpus = true;  // false: the CPU in simulated GPUs' place
  Fp8Compute::Mode fp8_compute = Fp8Compute::Mode::off;
};

inline ComputeOn compute_on(const LoadRequest& request) { return {!request.simulate, request.fp8_compute}; }

struct RunSettings {
  std::optional<std::string> component;  // which component; default: the first one a built-in family runs
  std::optional<std::string> entry;      // which entry point ("encode"); default: the family's first
  std::uint64_t tokens = 0;              // text tokens per sample for generated inputs; 0: the family's default
  std::uint64_t batch = 1;
  std::uint64_t height = 0, width = 0;          // pixels, for generated inputs of image models; 0: the family's default
  std::uint64_t steps = 3;                      // calls of the entry; the first one warms up
  std::optional<std::filesystem::path> input;   // safetensors holding the entry's inputs by name
  std::optional<std::filesystem::path> output;  // where to write the last call's outputs, by name
  std::uint64_t seed = 0;                       // for generated inputs
  bool every_component = false;  // every component a family runs, each of its entries (compare --measure)
};

struct StepRecord {
  double seconds = 0;            // wall clock, the GPU work included
  double compute_seconds = 0;    // the compute streams' own work, copy waits excluded
  double copy_wait_seconds = 0;  // the executor's thread waiting for fills to be issued
  std::uint64_t streamed_bytes = 0;
  std::uint64_t unprefetched_units = 0;  // streamed units copied on demand, not ahead
};

struct RunOutcome {
  std::string architecture;  // the family that ran it: "qwenimage_transformer"
  std::string component;
  std::string entry;
  std::uint64_t batch = 0;
  std::uint64_t tokens = 0;  // per sample and call; 0 for image models
  std::vector<StepRecord> steps;
  std::map<DeviceId, std::uint64_t> peak_bytes;  // ours at most during the steps, activations included
  std::vector<std::string> notes;
};

struct RunHooks {
  std::function<void(std::uint64_t, std::uint64_t)> progress;  // bytes loaded of the total
  const std::atomic<bool>* cancel = nullptr;                   // the CLI's Ctrl-C
  int log_level = 2;                                           // log::Level: the library logs as the CLI does
  // --profile FILE: the job's steps (after its load) recorded by PyTorch's profiler, the Chrome trace
  // written there, its summary added to the report's notes; empty: none. CUDA builds only (the caller
  // refuses it where runtime_library().create_cuda_runtime is null).
  std::string profile_file;
};

struct RunResult {
  GuardReport report;                // the load, any fallback a step caused, and what unloading left
  std::vector<RunOutcome> outcomes;  // one per call: a component's entry
};

// A pipeline job's result: the guard's report (the load, any fallback, what unloading left) and what
// the pipeline made (its own outcome type: an image edit's is an EditOutcome).
struct PipelineRun {
  GuardReport report;
  std::shared_ptr<const pipelines::PipelineOutcome> outcome;
  std::optional<GuardReport> parallel_report;  // the second load's (ParallelLoad), where there was one
};

// A second load beside a pipeline's, on another GPU (a CFG-parallel edit: the transformer again, each
// step's negative pass there while the positive one runs on the first GPU): its own request (that GPU
// alone, the component alone, one pass's headroom) and the model as that request reads it.
struct ParallelLoad {
  LoadRequest request;
  InspectedModel model;
};

// A pipeline kept loaded for many jobs (`vramguard serve`): the guard's load once, then one job at a time.
class PipelineService {
 public:
  virtual ~PipelineService() = default;
  // Runs one job in the loaded session (a step out of memory falls back within it, as run_pipeline's).
  // GuardFailure when nothing is left to run it; Interrupted when `cancel` stops it at a step's end (the
  // session stays loaded for the next job).
  virtual std::shared_ptr<const pipelines::PipelineOutcome> run(
      const pipelines::PipelineJob& job, const std::function<void(const pipelines::PipelineStep&)>& on_step,
      const std::atomic<bool>* cancel) = 0;
  // The guard's report of the load (and of any fallback a job caused since).
  virtual GuardReport report() const = 0;
  // Frees everything the session holds; the report then records what was left in use.
  virtual GuardReport unload() = 0;
};

// What the library exports (vramguard_runtime_library), one struct: checked, then called.
struct RuntimeLibraryInterface {
  int interface_version;
  std::uint64_t layout_fingerprint;  // runtime_library_layout_fingerprint() of the library's build
  std::uint64_t device_runtime_fingerprint;
  // Refuses, before anything loads, what cannot run: no family for the component (InputError listing
  // the families), an unknown component or entry, inputs that are missing, unknown or of the wrong
  // dtype or shape for the config, a tensor the checkpoint lacks. Returns the activation bytes the
  // calls predict from their inputs, the largest of them: the headroom a GPU keeps for them.
  std::uint64_t (*check)(const InspectedModel& model, const RunSettings& settings, ComputeOn compute);
  // Opens a session for the request (the guard's load), runs settings.steps calls of the entry (of
  // each, with every_component) in it, unloads. A step that runs out of memory falls back within the
  // session. Throws GuardFailure with the report when nothing loads or runs (Ctrl-C included).
  RunResult (*run)(const LoadRequest& request, const InspectedModel& model, const RunSettings& settings,
                   const RunHooks& hooks);
  // A pipeline's job (prepared before anything loads: pipelines/pipeline_registry.hpp) checked against
  // the components' configs by the pipeline registered under its name (InputError for a folder whose
  // components do not run it); returns what its model calls need: the largest call's activations, the
  // headroom a GPU keeps, and each component's tokens and passes. The same for every pipeline.
  pipelines::PipelineDemands (*check_pipeline)(const InspectedModel& model, const pipelines::PipelineJob& job,
                                               ComputeOn compute);
  // Opens a session for the request, runs the job's stages in it, unloads. `parallel` (or null): a second
  // session opened beside it for the demands' parallel component, its report returned beside the first's.
  // Throws GuardFailure with the report when nothing loads or runs (Ctrl-C included).
  PipelineRun (*run_pipeline)(const LoadRequest& request, const InspectedModel& model,
                              const pipelines::PipelineJob& job, const RunHooks& hooks,
                              const std::function<void(const pipelines::PipelineStep&)>& on_step,
                              const ParallelLoad* parallel);
  // The families the library runs natively, each with its entry points, one line each ("qwen2: forward:
  // token ids [batch, tokens] (int64) -> logits ..."): what `vramguard help run` lists, so that no list of
  // families is written outside their folders.
  std::vector<std::string> (*families)();
  // Opens a session for the request and keeps it loaded for the jobs of the pipeline that `job` (a job
  // of the largest size it will take, checked with check_pipeline) is one of. The caller owns it.
  // GuardFailure with the report when nothing loads.
  PipelineService* (*open_pipeline_service)(const LoadRequest& request, const InspectedModel& model,
                                            const RunHooks& hooks);
  // The CUDA device runtime (host/devices/cuda_runtime.cpp) the CLI's load, doctor, fix and monitor use;
  // nullptr in a build without CUDA. The caller owns what it returns.
  DeviceRuntime* (*create_cuda_runtime)(int log_level);
};

// The runtime library beside this binary (or VRAMGUARD_RUNTIME_LIBRARY), opened once; JobError when it
// is missing or from another build. make_cuda_runtime (devices/device_runtime.hpp) is defined here too.
const RuntimeLibraryInterface& runtime_library();

// --profile FILE's value for RunHooks::profile_file (empty where not given); UsageError, before any
// work, where the runtime library has no profiler (a build without CUDA).
std::string profile_file_for(const std::optional<std::string>& file);

inline constexpr int kRuntimeLibraryInterfaceVersion = 17;  // 17: EditOutcome's CallPeaks, by component
std::uint64_t runtime_library_layout_fingerprint();

}  // namespace vramguard
