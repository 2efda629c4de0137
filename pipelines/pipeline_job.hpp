#pragma once
// What every pipeline (pipelines/<name>/, docs/adding-a-pipeline.md... see docs/architecture.md) shares
// with the applications that run it, libtorch-free: a job prepared and checked before anything loads,
// what it asks of the plan, its progress and what it made. A job crosses the CLI's boundary into the
// runtime library as a PipelineJob, and there the pipeline registered under the same name runs it; the
// boundary stays the same when a pipeline is added.
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "vramguard/strategy.hpp"

namespace vramguard::pipelines {

// A pipeline's inputs, read, sized and checked (a picture decoded, a prompt tokenized, a schedule made).
// Each pipeline derives its own; pipeline() names the registered pipeline that runs it.
struct PipelineJob {
  virtual ~PipelineJob() = default;
  virtual std::string pipeline() const = 0;  // model_index.json's _class_name
  // The LoRAs loaded with the model (--lora), re-weighted for this job alone: by each one's file as given
  // at load, its scale now (what --lora FILE:SCALE would have set); a LoRA not named is off. Unset, each
  // runs at the scale it was loaded with. Serving changes the mix per request without reloading.
  std::optional<std::map<std::string, double>> lora_scales;
};

// What a job made: each pipeline's own outcome derives from it.
struct PipelineOutcome {
  virtual ~PipelineOutcome() = default;
};

// What a job asks of the devices, predicted before anything loads: the activations of its largest
// model call, which each GPU keeps as headroom beside the weights, and each component's work (tokens
// per pass, passes per job), so that the plan weighs a transformer's 2 x steps passes against a text
// encoder's two.
struct PipelineDemands {
  std::uint64_t activation_bytes = 0;  // the largest call's (a VAE's in tiles, where the job may tile)
  // A VAE's larger call on the whole picture: what it needs where it does not tile (0: no VAE).
  std::uint64_t whole_picture_vae_bytes = 0;
  Workload workload;  // components' tokens and passes (tokens and batch left unset)
  // A component whose passes could run two at once, one on each of two GPUs (true CFG's positive and
  // negative transformer passes: CFG-parallel), and one such pass's activations (the second GPU's
  // headroom); empty where the job has no such passes.
  std::string parallel_component;
  std::uint64_t parallel_activation_bytes = 0;
};

// One denoising step, as it finishes (the CLI's progress line).
struct PipelineStep {
  int step = 0, steps = 0;
  double seconds = 0;                // all the step's model passes and the scheduler's update
  std::uint64_t streamed_bytes = 0;  // copied into the streaming windows during the step
  // Where the time went: the GPU's compute between the passes' first and last unit, the host's waits
  // for a unit's copy, the streamed units used before their copy was started ahead (not overlapped), and
  // how often the caching allocator emptied its cache and retried (every stream waited for each).
  double compute_seconds = 0;
  double copy_wait_seconds = 0;
  std::uint64_t unprefetched_units = 0;
  std::uint64_t allocator_retries = 0;
};

}  // namespace vramguard::pipelines
