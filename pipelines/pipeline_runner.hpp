#pragma once
// A pipeline as the runtime library runs it (libtorch): what its job asks of the plan, and its stages
// in a Session. Found by the job's pipeline() among the registered runners (generated from the
// vramguard_pipeline() lines: pipeline_runners.cpp).
#include <ATen/core/Tensor.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "pipeline_job.hpp"
#include "vramguard/runtime/session.hpp"

namespace vramguard::pipelines {

struct PipelineRunner {
  std::vector<std::string> class_names;  // the jobs it runs, by their pipeline()
  // Checks the job's model calls against the components' configs before anything loads (InputError
  // for a folder whose components do not run it) and predicts what they need.
  PipelineDemands (*demands)(const runtime::ModelDescription& model, const PipelineJob& job,
                             const std::function<runtime::ComputeTarget(const std::string&)>& target_of) = nullptr;
  // Runs the job's stages in `session`; `on_step` hears each denoising step as it ends. `parallel`: a
  // second Session holding the demands' parallel_component on another GPU (null: none), whose passes
  // run at the same time as the first's.
  std::unique_ptr<PipelineOutcome> (*run)(runtime::Session& session, runtime::Session* parallel, const PipelineJob& job,
                                          const std::function<void(const PipelineStep&)>& on_step,
                                          const std::atomic<bool>* cancel) = nullptr;
};

const std::vector<PipelineRunner>& pipeline_runners();

// The runner of `job`; JobError when none runs it (a CLI and a runtime library of different builds).
const PipelineRunner& pipeline_runner_for(const PipelineJob& job);

}  // namespace vramguard::pipelines
