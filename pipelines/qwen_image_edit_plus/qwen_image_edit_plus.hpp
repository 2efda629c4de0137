#pragma once
// Qwen-Image-Edit-2509/2511 (diffusers' QwenImageEditPlusPipeline): the first Edit's stages with
// several pictures (qwen_image_edit_plus_spec.cpp says how it differs).
#include "qwen_image_edit/edit_inputs.hpp"

namespace vramguard::pipelines {

inline constexpr const char* kEditPlusPipeline = "QwenImageEditPlusPipeline";

EditVariant edit_plus_variant();

}  // namespace vramguard::pipelines
