#pragma once
// Each family's synthetic layout (no libtorch: `vramguard synth` writes it): the exact tensor names and
// shapes its model class builds from a config, and that config as config.json holds it. One function
// per family, in its folder (architectures/<family>/<family>_layout.cpp); host/synth composes them
// into the presets it writes.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/component_layout.hpp"

namespace vramguard {

struct SynthBuilder {
  std::vector<SynthTensor>& out;
  void add(const std::string& name, std::vector<std::int64_t> shape) { out.push_back({name, std::move(shape)}); }
  void linear(const std::string& prefix, std::int64_t out_features, std::int64_t in_features, bool bias = true) {
    add(prefix + ".weight", {out_features, in_features});
    if (bias) add(prefix + ".bias", {out_features});
  }
};

// ---- qwen2: Qwen2 / Qwen2.5 decoders (transformers' Qwen2ForCausalLM) ----
struct Qwen2Config {
  std::int64_t hidden, layers, intermediate, heads, kv_heads, vocab;
  bool tie;
};
// The decoder layers under `prefix` ("model.layers.").
void qwen2_layers(SynthBuilder& b, const std::string& prefix, const Qwen2Config& c);
nlohmann::ordered_json qwen2_json(const Qwen2Config& c, const std::string& architecture);
// A whole Qwen2ForCausalLM: embedding, layers, norm, head (none when tied).
SynthComponent qwen2_component(const Qwen2Config& c);

// ---- qwen2_5_vl: Qwen2.5-VL (Qwen-Image-Edit's text encoder) ----

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

// ---- qwenimage_transformer: Qwen-Image's MMDiT (diffusers' QwenImageTransformer2DModel) ----
struct MmditConfig {
  std::int64_t layers, heads, head_dim, joint_dim, in_channels, out_channels, patch;
  std::vector<std::int64_t> axes_dims_rope;  // frame, height, width: adding up to head_dim
};
SynthComponent qwenimage_transformer_component(const MmditConfig& c);

// ---- qwenimage_vae: diffusers' AutoencoderKLQwenImage ----
struct VaeConfig {
  std::int64_t base_dim, z_dim, res_blocks;
  std::vector<std::int64_t> dim_mult;
  std::vector<bool> temporal_downsample;
};
SynthComponent qwenimage_vae_component(const VaeConfig& c);

}  // namespace vramguard
