#pragma once
// What `vramguard edit` and `vramguard serve` read alike from their command lines.
#include "config/invocation.hpp"
#include "edit_settings.hpp"

namespace vramguard {

// --cfg-batch auto|always|never (default auto); UsageError for anything else.
pipelines::CfgBatching cfg_batching_from(const Invocation& invocation);

}  // namespace vramguard
