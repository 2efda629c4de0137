#pragma once
// What `vramguard edit` and `vramguard serve` read alike from their command lines.
#include "config/invocation.hpp"
#include "edit_settings.hpp"
#include "request/load_request.hpp"

namespace vramguard {

// --cfg-batch auto|always|never (default auto); UsageError for anything else.
pipelines::CfgBatching cfg_batching_from(const Invocation& invocation);

// An edit needs every component: UsageError for --component NAME without a file (which would read only
// that one), saying how to give a component's weights from one file instead.
void refuse_partial_pipeline(const LoadRequest& request);

}  // namespace vramguard
