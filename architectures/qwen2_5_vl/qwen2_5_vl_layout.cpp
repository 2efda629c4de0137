#include "qwen2_5_vl/qwen2_5_vl_layout.hpp"

namespace vramguard {
namespace {

void vl_tensors(SynthBuilder& b, const Qwen2Config& t, const VisionConfig& v, bool legacy) {
  const std::string visual = legacy ? "visual." : "model.visual.";
  const std::string lm = legacy ? "model." : "model.language_model.";
  b.add(visual + "patch_embed.proj.weight", {v.hidden, v.in_channels, v.temporal_patch, v.patch, v.patch});
  for (std::int64_t i = 0; i < v.depth; ++i) {
    const std::string p = visual + "blocks." + std::to_string(i);
    b.add(p + ".norm1.weight", {v.hidden});
    b.add(p + ".norm2.weight", {v.hidden});
    b.linear(p + ".attn.qkv", 3 * v.hidden, v.hidden);
    b.linear(p + ".attn.proj", v.hidden, v.hidden);
    b.linear(p + ".mlp.gate_proj", v.intermediate, v.hidden);
    b.linear(p + ".mlp.up_proj", v.intermediate, v.hidden);
    b.linear(p + ".mlp.down_proj", v.hidden, v.intermediate);
  }
  const std::int64_t merged = v.hidden * v.merge * v.merge;
  b.add(visual + "merger.ln_q.weight", {v.hidden});
  b.linear(visual + "merger.mlp.0", merged, merged);
  b.linear(visual + "merger.mlp.2", v.out_hidden, merged);
  b.add(lm + "embed_tokens.weight", {t.vocab, t.hidden});
  qwen2_layers(b, lm + "layers.", t);
  b.add(lm + "norm.weight", {t.hidden});
  b.add("lm_head.weight", {t.vocab, t.hidden});
}

}  // namespace

std::vector<SynthTensor> qwen2_5_vl_tensors(const Qwen2Config& text, const VisionConfig& vision, bool legacy) {
  std::vector<SynthTensor> tensors;
  SynthBuilder b{tensors};
  vl_tensors(b, text, vision, legacy);
  return tensors;
}

SynthComponent qwen2_5_vl_component(const Qwen2Config& text, const VisionConfig& vision,
                                    const MultimodalConfig& multimodal, bool legacy) {
  SynthComponent component{"text_encoder", "model", qwen2_json(text, "Qwen2_5_VLForConditionalGeneration"), {}};
  component.config["model_type"] = "qwen2_5_vl";
  component.config["max_position_embeddings"] = multimodal.max_positions;
  component.config["rope_theta"] = multimodal.rope_theta;
  component.config["rope_scaling"] =
      nlohmann::ordered_json{{"type", "mrope"}, {"mrope_section", multimodal.mrope_section}};
  component.config["image_token_id"] = multimodal.image_token;
  component.config["video_token_id"] = multimodal.video_token;
  component.config["vision_start_token_id"] = multimodal.vision_start_token;
  component.config["vision_end_token_id"] = multimodal.vision_end_token;
  component.config["vision_config"] = nlohmann::ordered_json{{"depth", vision.depth},
                                                             {"hidden_size", vision.hidden},
                                                             {"num_heads", vision.heads},
                                                             {"intermediate_size", vision.intermediate},
                                                             {"out_hidden_size", vision.out_hidden},
                                                             {"patch_size", vision.patch},
                                                             {"temporal_patch_size", vision.temporal_patch},
                                                             {"spatial_merge_size", vision.merge},
                                                             {"in_chans", vision.in_channels},
                                                             {"window_size", vision.window},
                                                             {"fullatt_block_indexes", vision.full_attention_blocks},
                                                             {"hidden_act", "silu"}};
  SynthBuilder tb{component.tensors};
  vl_tensors(tb, text, vision, legacy);

  return component;
}

}  // namespace vramguard
