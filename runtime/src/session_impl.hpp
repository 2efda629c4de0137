#pragma once
// What a Session holds: the request it was opened with, the model read from it, the guard's pipeline
// and what it loaded, and the executor over that. The runtime API's Session::open and the CLI's runs
// (runtime_library_module.cpp) both open one here, and run steps through the same step().
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "executor.hpp"
#include "guard/guard_pipeline.hpp"
#include "model/model_inspector.hpp"
#include "request/load_request.hpp"
#include "vramguard/runtime/session.hpp"

namespace vramguard::runtime {

struct Session::Impl {
  struct Hooks {
    std::function<void(std::uint64_t, std::uint64_t)> progress;  // bytes loaded of the total
    const std::atomic<bool>* cancel = nullptr;
  };
  // Loads `model` as `request` asks, through the guard and its fallback ladder; simulated devices keep
  // real bytes so that the CPU can compute in their place. Throws GuardFailure (with the report) when
  // no rung loads it.
  static std::unique_ptr<Impl> open(LoadRequest request, InspectedModel model, const Hooks& hooks);

  // Runs `body` as one step of `component`: accounts its activations, times it; a step that runs out of
  // device memory releases the model, loads it with the guard's next rung and runs `body` again.
  // GuardFailure (with the report) when no rung is left. `lighter`, where given, is asked first: it
  // switches `body` to a way that needs less memory (a VAE in tiles) and returns that way's activation
  // bytes, and the step runs again in place; nullopt leaves the out-of-memory to the guard.
  using Lighter = std::function<std::optional<std::uint64_t>(const OutOfMemory&)>;
  void step(std::string_view component, const std::function<void()>& body, std::uint64_t activation_bytes,
            const Lighter& lighter = {});
  // Bytes the loaded plan leaves for activations on the GPUs `component` runs on (the least of them):
  // the budget's limit there (its cap or what was free, less the reserve) less the resident weights and
  // the streaming window. The largest value where it runs on no GPU.
  std::uint64_t activation_room_bytes(std::string_view component) const;
  // Releases the model and the allocator's cache; the report records what was left in use.
  void unload();
  std::size_t component_index(std::string_view component) const;
  // What a LoRA adds to its Linear's output now: the scale it was loaded with, or what the running job
  // sets (PipelineJob::lora_scales; 0 for a LoRA the job leaves out).
  double adapter_scale(const LoraAdapter& adapter) const;

  // Declared first: destroyed last.
  LoadRequest request;
  std::unique_ptr<InspectedModel> model;
  std::unique_ptr<DeviceRuntime> runtime;
  std::unique_ptr<PluginRegistry> registry;
  std::unique_ptr<GuardPipeline> pipeline;
  std::optional<GuardResult> result;
  std::string allocator;
  std::uint64_t generation = 1;  // loads so far: open, then one per fallback
  ModelDescription description;
  std::vector<StepStatistics> steps;
  std::optional<std::map<std::string, double>> lora_scales;  // the running job's (PipelineJob::lora_scales)
  std::set<int> fp8_matmul_gpus;  // where Linears with e4m3 weights run as fp8 matmuls (--fp8-compute)
  // The guard's failure when the public step() turned it into a MemoryError: its report.
  std::optional<GuardFailure> memory_failure;
  std::unique_ptr<Executor> executor;  // declared last: destroyed first

 private:
  // The executor over what result holds now (after open, or after a fallback).
  void rebind();
};

}  // namespace vramguard::runtime
