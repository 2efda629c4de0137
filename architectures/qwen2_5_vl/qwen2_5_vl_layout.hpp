#pragma once
// Qwen2.5-VL (Qwen-Image-Edit's text encoder): tensors and config.json from a config.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "layout_builder.hpp"
#include "qwen2/qwen2_layout.hpp"

namespace vramguard {

struct VisionConfig {
  std::int64_t depth, hidden, heads, intermediate, out_hidden, patch, temporal_patch, merge, in_channels, window;
  std::vector<std::int64_t> full_attention_blocks;
};
// What the text encoder's config adds to a Qwen2 one: its multimodal rope and its special tokens.
struct MultimodalConfig {
  std::vector<std::int64_t> mrope_section;  // adding up to half the head dimension
  std::int64_t image_token, video_token, vision_start_token, vision_end_token, max_positions;
  double rope_theta;
};
// Qwen2_5_VLForConditionalGeneration: the vision tower, the decoder, the head; `legacy` names the
// tensors as checkpoints saved before transformers 5 do (model.layers.*, visual.*).
SynthComponent qwen2_5_vl_component(const Qwen2Config& text, const VisionConfig& vision,
                                    const MultimodalConfig& multimodal, bool legacy);

}  // namespace vramguard
