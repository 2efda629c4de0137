#pragma once
// Qwen-Image's MMDiT (diffusers' QwenImageTransformer2DModel): tensors and config.json from a config.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "layout_builder.hpp"
#include "qwenimage_transformer/qwenimage_transformer_config.hpp"

namespace vramguard {

SynthComponent qwenimage_transformer_component(const MmditConfig& c);

}  // namespace vramguard
