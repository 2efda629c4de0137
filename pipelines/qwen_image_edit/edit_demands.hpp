#pragma once
// What an edit asks of the devices: a pipeline's demands (pipeline_job.hpp), under the edit's name.
#include "pipeline_job.hpp"

namespace vramguard::pipelines {

using EditDemands = PipelineDemands;

}  // namespace vramguard::pipelines
