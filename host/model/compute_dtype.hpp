#pragma once
// The one rule for the dtype a component computes in, for the inspector's estimates and the runtime's
// forward code alike.
#include <optional>

#include "vramguard/dtype.hpp"
#include "vramguard/model_graph.hpp"

namespace vramguard {

// The dtype most of a component's floating weights have once placed (the target, where one is set).
// Weights stored in fp8 compute in the dtype of the rest (biases, norms), so fp8 tensors and their scales
// do not count: the scales are float32 by convention, and one a row outweighs a bf16 model's biases. A
// component with none: the target, else bf16.
DType component_compute_dtype(const Component& component, std::optional<DType> target);

}  // namespace vramguard
