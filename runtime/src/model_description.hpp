#pragma once
// The public ModelDescription, made from an inspected model.
#include "model/model_inspector.hpp"
#include "vramguard/runtime/session.hpp"

namespace vramguard::runtime {

ModelDescription describe(const InspectedModel& model);

}  // namespace vramguard::runtime
