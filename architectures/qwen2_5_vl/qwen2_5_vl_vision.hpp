#pragma once
// Qwen2.5-VL's vision tower: the processor's flattened patches to image embeddings (patch embedding,
// 2-D rotary positions, window attention with the full-attention blocks the config lists, the 2×2
// patch merger), as transformers' Qwen2_5_VisionTransformerPretrainedModel computes them.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "qwen2_5_vl/qwen2_5_vl_config.hpp"
#include "vramguard/runtime/session.hpp"

namespace vramguard::runtime::qwen2_5_vl {

// The tower's config as the family reads it (qwen2_5_vl_config.cpp), and where it sits in the checkpoint.
struct VisionLayout : VisionConfig {
  std::string prefix;  // "model.visual." or "visual."
};

// A vision block's module name: "model.visual.blocks.3".
inline std::string vision_block(const VisionLayout& v, std::int64_t i) {
  return v.prefix + "blocks." + std::to_string(i);
}

// The image grids, as transformers reads image_grid_thw: (frames, height, width) in patches.
struct Grid {
  std::int64_t t = 0, h = 0, w = 0;
};
std::vector<Grid> grids_of(const at::Tensor& image_grid_thw);

struct VisionOutput {
  at::Tensor merged;  // [merged patches, out_hidden], in the processor's order: the image embeddings
  // [patches, hidden], the tower's last hidden state in window order (transformers' last_hidden_state)
  at::Tensor last_block;
};

// The tower over `pixel_values` [patches, patch values] of the images `image_grid_thw` describes, its
// units run in `session`'s `component` with weights of `dtype`.
VisionOutput vision_tower(const VisionLayout& v, Session& session, const std::string& component,
                          const at::Tensor& pixel_values, const at::Tensor& image_grid_thw, c10::ScalarType dtype);

}  // namespace vramguard::runtime::qwen2_5_vl
