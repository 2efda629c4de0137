#pragma once
// Qwen2.5-VL (Qwen-Image-Edit's text encoder): config.json — the Qwen2 decoder's, its vision tower's and
// its special tokens — read once here for planning, synth, the checks, the forward code and the edit
// pipeline alike, and the activations a call holds.
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "qwen2/qwen2_config.hpp"

namespace vramguard {

struct VisionConfig {
  std::int64_t depth = 32, hidden = 1280, heads = 16, intermediate = 3420, out_hidden = 3584, patch = 14,
               temporal_patch = 2, merge = 2, in_channels = 3, window = 112;
  std::vector<std::int64_t> full_attention_blocks{7, 15, 23, 31};
  double theta = 10000;

  std::int64_t head_dim() const { return hidden / heads; }
  std::int64_t patch_values() const { return in_channels * temporal_patch * patch * patch; }
  // A block holds its input, q/k/v and the float32 rotations, the attention output and the MLP's three
  // intermediate products; and the processor's flattened patch.
  double activation_bytes_per_patch(double element_bytes) const {
    return static_cast<double>(6 * hidden + 3 * intermediate) * element_bytes + static_cast<double>(4 * hidden) * 4 +
           static_cast<double>(patch_values()) * element_bytes;
  }
};

struct Qwen25VlConfig {
  Qwen2Config text;
  VisionConfig vision;
  std::int64_t image_token = 151655, video_token = 151656, vision_start_token = 151652, vision_end_token = 151653;
};

// A call with `tokens` text positions and `patches` image patches: the vision tower and the decoder run
// one after the other, so the larger of the two, plus the merged embeddings the decoder starts from.
// The forward code adds what its libtorch holds besides to each side (an unfused attention's scores).
inline double qwen2_5_vl_activation_bytes(const Qwen2Config& text, const VisionConfig& vision, double element_bytes,
                                          double tokens, double patches, bool with_logits, double text_extra_bytes = 0,
                                          double vision_extra_bytes = 0) {
  return std::max(tokens * text.activation_bytes_per_token(element_bytes, with_logits) + text_extra_bytes,
                  patches * vision.activation_bytes_per_patch(element_bytes) + vision_extra_bytes) +
         tokens * static_cast<double>(text.hidden) * element_bytes;
}

// From config.json's values (`file` names it in complaints); InputError for a missing, out-of-range or
// inconsistent value.
Qwen25VlConfig read_qwen2_5_vl_config(const nlohmann::json& config, const std::string& file);

}  // namespace vramguard
