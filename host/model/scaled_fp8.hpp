#pragma once
// Scaled-fp8 checkpoints (ComfyUI's convention): a Linear weight stored in F8_E4M3 or F8_E5M2 beside a
// `<module>.scale_weight` (weight = fp8 value x scale, one value or one per row). The scales are read
// at inspection, before anything loads: a zero, negative or non-finite one would make the layer's
// output meaningless.
#include <string>
#include <string_view>

#include "model/model_inspector.hpp"

namespace vramguard {

// The scale of "<module>.weight": "<module>.scale_weight", as ComfyUI names it and --weight-dtype makes it.
std::string fp8_scale_name(std::string_view module);
bool is_fp8_scale(std::string_view tensor);

// InputError naming the file and the tensor for a scale that is not a positive finite number, or a
// scale whose weight is not stored in fp8.
void check_fp8_scales(const InspectedModel& model);

}  // namespace vramguard
