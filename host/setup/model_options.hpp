#pragma once
// Options shared by every command that reads a model: MODEL, --dtype, --unit-rules.
#include "config/invocation.hpp"
#include "model/model_inspector.hpp"

namespace vramguard {

void declare_model_options(CommandOptions& own);
InspectedModel inspect_from_options(const Invocation& invocation);

}  // namespace vramguard
