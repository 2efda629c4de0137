#pragma once
// Qwen-Image's MMDiT (diffusers' QwenImageTransformer2DModel): tensors and config.json from a config.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "layout_builder.hpp"

namespace vramguard {

struct MmditConfig {
  std::int64_t layers, heads, head_dim, joint_dim, in_channels, out_channels, patch;
  std::vector<std::int64_t> axes_dims_rope;  // frame, height, width: adding up to head_dim
  bool zero_cond_t = false;                  // Edit-2511's: the input pictures modulated as at timestep 0
};
SynthComponent qwenimage_transformer_component(const MmditConfig& c);

}  // namespace vramguard
