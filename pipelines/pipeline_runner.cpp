#include "pipeline_runner.hpp"

#include <algorithm>

#include "core/errors.hpp"

namespace vramguard::pipelines {

const PipelineRunner& pipeline_runner_for(const PipelineJob& job) {
  const std::string name = job.pipeline();
  for (const auto& runner : pipeline_runners())
    if (std::count(runner.class_names.begin(), runner.class_names.end(), name)) return runner;
  throw JobError("the runtime library runs no pipeline '" + name + "'",
                 "the vramguard binary and its runtime library come from different builds: reinstall them together");
}

}  // namespace vramguard::pipelines
