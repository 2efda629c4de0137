#pragma once
// Qwen2.5-VL (Qwen-Image-Edit's text encoder): tensors and config.json from a config.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "layout_builder.hpp"
#include "qwen2/qwen2_layout.hpp"
#include "qwen2_5_vl/qwen2_5_vl_config.hpp"

namespace vramguard {

// What synth writes into the text encoder's config besides a Qwen2 one: its multimodal rope and its
// special tokens (read back by read_qwen2_5_vl_config).
struct MultimodalConfig {
  std::vector<std::int64_t> mrope_section;  // adding up to half the head dimension
  std::int64_t image_token, video_token, vision_start_token, vision_end_token, max_positions;
  double rope_theta;
};
// Qwen2_5_VLForConditionalGeneration: the vision tower, the decoder, the head; `legacy` names the
// tensors as checkpoints saved before transformers 5 do (model.layers.*, visual.*).
// Its tensors alone (what the family's check holds a checkpoint against).
std::vector<SynthTensor> qwen2_5_vl_tensors(const Qwen2Config& text, const VisionConfig& vision, bool legacy);
SynthComponent qwen2_5_vl_component(const Qwen2Config& text, const VisionConfig& vision,
                                    const MultimodalConfig& multimodal, bool legacy);

}  // namespace vramguard
