#include "synth/synthetic_architecture.hpp"

#include <map>

#include "core/errors.hpp"
#include "core/text.hpp"

namespace vramguard {
namespace {

using ojson = nlohmann::ordered_json;
using Shape = std::vector<std::int64_t>;

struct Builder {
  std::vector<SynthTensor>& out;
  void add(const std::string& name, Shape shape) { out.push_back({name, std::move(shape)}); }
  void linear(const std::string& prefix, std::int64_t out_features, std::int64_t in_features, bool bias = true) {
    add(prefix + ".weight", {out_features, in_features});
    if (bias) add(prefix + ".bias", {out_features});
  }
};

// ---- Qwen2 / Qwen2.5 decoder (transformers Qwen2ForCausalLM) ------------------------------------------

struct Qwen2Config {
  std::int64_t hidden, layers, intermediate, heads, kv_heads, vocab;
  bool tie;
};

const std::map<std::string, Qwen2Config>& qwen2_presets() {
  static const std::map<std::string, Qwen2Config> presets = {
      {"tiny", {64, 2, 128, 4, 2, 512, false}},
      {"tiny-tied", {64, 2, 128, 4, 2, 512, true}},
      {"small", {256, 4, 704, 8, 2, 4096, true}},
      {"0.5b", {896, 24, 4864, 14, 2, 151936, true}},     // Qwen2.5-0.5B
      {"2b", {2048, 20, 11008, 16, 16, 151936, false}},   // ≈2 B: the streaming benchmark's shapes (bench/gpu)
      {"7b", {3584, 28, 18944, 28, 4, 152064, false}},    // Qwen2.5-7B
      {"72b", {8192, 80, 29568, 64, 8, 152064, false}},   // Qwen2.5-72B
  };
  return presets;
}

void qwen2_layers(Builder& b, const std::string& prefix, const Qwen2Config& c) {
  const std::int64_t head_dim = c.hidden / c.heads;
  for (std::int64_t i = 0; i < c.layers; ++i) {
    const std::string p = prefix + std::to_string(i);
    b.linear(p + ".self_attn.q_proj", c.hidden, c.hidden);
    b.linear(p + ".self_attn.k_proj", c.kv_heads * head_dim, c.hidden);
    b.linear(p + ".self_attn.v_proj", c.kv_heads * head_dim, c.hidden);
    b.linear(p + ".self_attn.o_proj", c.hidden, c.hidden, false);
    b.linear(p + ".mlp.gate_proj", c.intermediate, c.hidden, false);
    b.linear(p + ".mlp.up_proj", c.intermediate, c.hidden, false);
    b.linear(p + ".mlp.down_proj", c.hidden, c.intermediate, false);
    b.add(p + ".input_layernorm.weight", {c.hidden});
    b.add(p + ".post_attention_layernorm.weight", {c.hidden});
  }
}

ojson qwen2_json(const Qwen2Config& c, const std::string& architecture) {
  return ojson{{"architectures", {architecture}},
               {"model_type", "qwen2"},
               {"hidden_size", c.hidden},
               {"intermediate_size", c.intermediate},
               {"num_hidden_layers", c.layers},
               {"num_attention_heads", c.heads},
               {"num_key_value_heads", c.kv_heads},
               {"vocab_size", c.vocab},
               {"tie_word_embeddings", c.tie},
               {"torch_dtype", "bfloat16"}};
}

SynthModel qwen2(const std::string& preset) {
  const auto& presets = qwen2_presets();
  const auto it = presets.find(preset);
  if (it == presets.end()) throw UsageError("qwen2 has no preset '" + preset + "'", "presets: " + text::join(synthetic_presets("qwen2"), ", "));
  const Qwen2Config& c = it->second;
  SynthModel model{"qwen2", preset, false, {}, {}};
  SynthComponent component{"model", "model", qwen2_json(c, "Qwen2ForCausalLM"), {}};
  Builder b{component.tensors};
  b.add("model.embed_tokens.weight", {c.vocab, c.hidden});
  qwen2_layers(b, "model.layers.", c);
  b.add("model.norm.weight", {c.hidden});
  if (!c.tie) b.add("lm_head.weight", {c.vocab, c.hidden});
  model.components.push_back(std::move(component));
  return model;
}

// ---- Qwen-Image-Edit pipeline (diffusers QwenImageEditPipeline) ---------------------------------------

struct MmditConfig {
  std::int64_t layers, heads, head_dim, joint_dim, in_channels, out_channels, patch;
  std::vector<std::int64_t> axes_dims_rope;  // frame, height, width: adding up to head_dim
};
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
struct VaeConfig {
  std::int64_t base_dim, z_dim, res_blocks;
  std::vector<std::int64_t> dim_mult;
  std::vector<bool> temporal_downsample;
};
struct PipelineConfig {
  MmditConfig transformer;
  Qwen2Config text;
  VisionConfig vision;
  VaeConfig vae;
  MultimodalConfig multimodal;
};

const std::map<std::string, PipelineConfig>& pipeline_presets() {
  static const std::map<std::string, PipelineConfig> presets = {
      {"full",
       {{60, 24, 128, 3584, 64, 16, 2, {16, 56, 56}},
        {3584, 28, 18944, 28, 4, 152064, false},
        {32, 1280, 16, 3420, 3584, 14, 2, 2, 3, 112, {7, 15, 23, 31}},
        {96, 16, 2, {1, 2, 4, 4}, {false, true, true}},
        {{16, 24, 24}, 151655, 151656, 151652, 151653, 128000, 1000000.0}}},
      {"tiny",
       {{2, 2, 16, 64, 16, 4, 2, {4, 6, 6}},
        {64, 2, 128, 4, 2, 512, false},
        {2, 32, 2, 64, 64, 14, 2, 2, 3, 112, {1}},
        {8, 4, 1, {1, 2, 2}, {false, true}},
        {{2, 3, 3}, 5, 6, 3, 4, 4096, 1000000.0}}},
  };
  return presets;
}

void mmdit(Builder& b, const MmditConfig& c) {
  const std::int64_t inner = c.heads * c.head_dim;
  b.linear("time_text_embed.timestep_embedder.linear_1", inner, 256);
  b.linear("time_text_embed.timestep_embedder.linear_2", inner, inner);
  b.add("txt_norm.weight", {c.joint_dim});
  b.linear("img_in", inner, c.in_channels);
  b.linear("txt_in", inner, c.joint_dim);
  for (std::int64_t i = 0; i < c.layers; ++i) {
    const std::string p = "transformer_blocks." + std::to_string(i);
    b.linear(p + ".img_mod.1", 6 * inner, inner);
    b.add(p + ".attn.norm_q.weight", {c.head_dim});
    b.add(p + ".attn.norm_k.weight", {c.head_dim});
    for (const char* proj : {"to_q", "to_k", "to_v", "add_k_proj", "add_v_proj", "add_q_proj", "to_out.0", "to_add_out"})
      b.linear(p + ".attn." + proj, inner, inner);
    b.add(p + ".attn.norm_added_q.weight", {c.head_dim});
    b.add(p + ".attn.norm_added_k.weight", {c.head_dim});
    b.linear(p + ".img_mlp.net.0.proj", 4 * inner, inner);
    b.linear(p + ".img_mlp.net.2", inner, 4 * inner);
    b.linear(p + ".txt_mod.1", 6 * inner, inner);
    b.linear(p + ".txt_mlp.net.0.proj", 4 * inner, inner);
    b.linear(p + ".txt_mlp.net.2", inner, 4 * inner);
  }
  b.linear("norm_out.linear", 2 * inner, inner);
  b.linear("proj_out", c.patch * c.patch * c.out_channels, inner);
}

void qwen25_vl(Builder& b, const Qwen2Config& t, const VisionConfig& v, bool legacy) {
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

void vae_residual(Builder& b, const std::string& p, std::int64_t in, std::int64_t out) {
  b.add(p + ".norm1.gamma", {in, 1, 1, 1});
  b.add(p + ".conv1.weight", {out, in, 3, 3, 3});
  b.add(p + ".conv1.bias", {out});
  b.add(p + ".norm2.gamma", {out, 1, 1, 1});
  b.add(p + ".conv2.weight", {out, out, 3, 3, 3});
  b.add(p + ".conv2.bias", {out});
  if (in != out) {
    b.add(p + ".conv_shortcut.weight", {out, in, 1, 1, 1});
    b.add(p + ".conv_shortcut.bias", {out});
  }
}

void vae_attention(Builder& b, const std::string& p, std::int64_t dim) {
  b.add(p + ".norm.gamma", {dim, 1, 1});
  b.add(p + ".to_qkv.weight", {3 * dim, dim, 1, 1});
  b.add(p + ".to_qkv.bias", {3 * dim});
  b.add(p + ".proj.weight", {dim, dim, 1, 1});
  b.add(p + ".proj.bias", {dim});
}

void vae_mid(Builder& b, const std::string& p, std::int64_t dim) {
  vae_residual(b, p + ".resnets.0", dim, dim);
  vae_attention(b, p + ".attentions.0", dim);
  vae_residual(b, p + ".resnets.1", dim, dim);
}

void vae(Builder& b, const VaeConfig& c) {
  // Encoder: residual blocks per level, a down-sampler between levels (temporal where configured).
  std::vector<std::int64_t> dims = {c.base_dim};
  for (auto m : c.dim_mult) dims.push_back(c.base_dim * m);
  b.add("encoder.conv_in.weight", {dims[0], 3, 3, 3, 3});
  b.add("encoder.conv_in.bias", {dims[0]});
  std::int64_t index = 0;
  for (std::size_t level = 0; level + 1 < dims.size(); ++level) {
    std::int64_t in = dims[level];
    const std::int64_t out = dims[level + 1];
    for (std::int64_t r = 0; r < c.res_blocks; ++r) {
      vae_residual(b, "encoder.down_blocks." + std::to_string(index++), in, out);
      in = out;
    }
    if (level + 1 != c.dim_mult.size()) {
      const std::string p = "encoder.down_blocks." + std::to_string(index++);
      b.add(p + ".resample.1.weight", {out, out, 3, 3});
      b.add(p + ".resample.1.bias", {out});
      if (c.temporal_downsample[level]) {
        b.add(p + ".time_conv.weight", {out, out, 3, 1, 1});
        b.add(p + ".time_conv.bias", {out});
      }
    }
  }
  const std::int64_t top = dims.back();
  vae_mid(b, "encoder.mid_block", top);
  b.add("encoder.norm_out.gamma", {top, 1, 1, 1});
  b.add("encoder.conv_out.weight", {2 * c.z_dim, top, 3, 3, 3});
  b.add("encoder.conv_out.bias", {2 * c.z_dim});
  b.add("quant_conv.weight", {2 * c.z_dim, 2 * c.z_dim, 1, 1, 1});
  b.add("quant_conv.bias", {2 * c.z_dim});
  b.add("post_quant_conv.weight", {c.z_dim, c.z_dim, 1, 1, 1});
  b.add("post_quant_conv.bias", {c.z_dim});

  // Decoder: the mirror image; an up-sampler halves the channels it hands to the next level.
  std::vector<std::int64_t> up = {c.base_dim * c.dim_mult.back()};
  for (auto it = c.dim_mult.rbegin(); it != c.dim_mult.rend(); ++it) up.push_back(c.base_dim * *it);
  b.add("decoder.conv_in.weight", {up[0], c.z_dim, 3, 3, 3});
  b.add("decoder.conv_in.bias", {up[0]});
  vae_mid(b, "decoder.mid_block", up[0]);
  for (std::size_t level = 0; level + 1 < up.size(); ++level) {
    std::int64_t in = level == 0 ? up[level] : up[level] / 2;
    const std::int64_t out = up[level + 1];
    const std::string p = "decoder.up_blocks." + std::to_string(level);
    for (std::int64_t r = 0; r <= c.res_blocks; ++r) {
      vae_residual(b, p + ".resnets." + std::to_string(r), in, out);
      in = out;
    }
    if (level + 1 != c.dim_mult.size()) {
      const bool temporal = c.temporal_downsample[c.temporal_downsample.size() - 1 - level];
      b.add(p + ".upsamplers.0.resample.1.weight", {out / 2, out, 3, 3});
      b.add(p + ".upsamplers.0.resample.1.bias", {out / 2});
      if (temporal) {
        b.add(p + ".upsamplers.0.time_conv.weight", {2 * out, out, 3, 1, 1});
        b.add(p + ".upsamplers.0.time_conv.bias", {2 * out});
      }
    }
  }
  b.add("decoder.norm_out.gamma", {up.back(), 1, 1, 1});
  b.add("decoder.conv_out.weight", {3, up.back(), 3, 3, 3});
  b.add("decoder.conv_out.bias", {3});
}

SynthModel qwen_image_edit(const std::string& preset, bool legacy) {
  const auto& presets = pipeline_presets();
  const auto it = presets.find(preset);
  if (it == presets.end())
    throw UsageError("qwen-image-edit has no preset '" + preset + "'", "presets: " + text::join(synthetic_presets("qwen-image-edit"), ", "));
  const PipelineConfig& c = it->second;
  SynthModel model{"qwen-image-edit", preset, true, {}, {}};
  model.model_index = ojson{{"_class_name", "QwenImageEditPipeline"},
                            {"_diffusers_version", "0.36.0"},
                            {"processor", {"transformers", "Qwen2VLProcessor"}},
                            {"scheduler", {"diffusers", "FlowMatchEulerDiscreteScheduler"}},
                            {"text_encoder", {"transformers", "Qwen2_5_VLForConditionalGeneration"}},
                            {"tokenizer", {"transformers", "Qwen2Tokenizer"}},
                            {"transformer", {"diffusers", "QwenImageTransformer2DModel"}},
                            {"vae", {"diffusers", "AutoencoderKLQwenImage"}}};

  SynthComponent text{"text_encoder", "model", qwen2_json(c.text, "Qwen2_5_VLForConditionalGeneration"), {}};
  text.config["model_type"] = "qwen2_5_vl";
  text.config["max_position_embeddings"] = c.multimodal.max_positions;
  text.config["rope_theta"] = c.multimodal.rope_theta;
  text.config["rope_scaling"] = ojson{{"type", "mrope"}, {"mrope_section", c.multimodal.mrope_section}};
  text.config["image_token_id"] = c.multimodal.image_token;
  text.config["video_token_id"] = c.multimodal.video_token;
  text.config["vision_start_token_id"] = c.multimodal.vision_start_token;
  text.config["vision_end_token_id"] = c.multimodal.vision_end_token;
  text.config["vision_config"] = ojson{{"depth", c.vision.depth},         {"hidden_size", c.vision.hidden},
                                       {"num_heads", c.vision.heads},     {"intermediate_size", c.vision.intermediate},
                                       {"out_hidden_size", c.vision.out_hidden}, {"patch_size", c.vision.patch},
                                       {"temporal_patch_size", c.vision.temporal_patch},
                                       {"spatial_merge_size", c.vision.merge}, {"in_chans", c.vision.in_channels},
                                       {"window_size", c.vision.window}, {"fullatt_block_indexes", c.vision.full_attention_blocks},
                                       {"hidden_act", "silu"}};
  Builder tb{text.tensors};
  qwen25_vl(tb, c.text, c.vision, legacy);

  SynthComponent transformer{"transformer", "diffusion_pytorch_model",
                             ojson{{"_class_name", "QwenImageTransformer2DModel"},
                                   {"_diffusers_version", "0.36.0"},
                                   {"patch_size", c.transformer.patch},
                                   {"in_channels", c.transformer.in_channels},
                                   {"out_channels", c.transformer.out_channels},
                                   {"num_layers", c.transformer.layers},
                                   {"attention_head_dim", c.transformer.head_dim},
                                   {"num_attention_heads", c.transformer.heads},
                                   {"joint_attention_dim", c.transformer.joint_dim},
                                   {"axes_dims_rope", c.transformer.axes_dims_rope},
                                   {"guidance_embeds", false}},
                             {}};
  Builder xb{transformer.tensors};
  mmdit(xb, c.transformer);

  ojson temporal = ojson::array();
  for (bool t : c.vae.temporal_downsample) temporal.push_back(t);
  SynthComponent vae_component{"vae", "diffusion_pytorch_model",
                               ojson{{"_class_name", "AutoencoderKLQwenImage"},
                                     {"_diffusers_version", "0.36.0"},
                                     {"base_dim", c.vae.base_dim},
                                     {"z_dim", c.vae.z_dim},
                                     {"dim_mult", c.vae.dim_mult},
                                     {"num_res_blocks", c.vae.res_blocks},
                                     {"attn_scales", ojson::array()},
                                     {"temperal_downsample", temporal}},
                               {}};
  Builder vb{vae_component.tensors};
  vae(vb, c.vae);

  model.components = {std::move(text), std::move(transformer), std::move(vae_component)};
  return model;
}

}  // namespace

std::uint64_t SynthTensor::elements() const {
  std::uint64_t n = 1;
  for (auto d : shape) n *= static_cast<std::uint64_t>(d);
  return n;
}

std::uint64_t SynthComponent::parameters() const {
  std::uint64_t n = 0;
  for (const auto& t : tensors) n += t.elements();
  return n;
}

std::vector<std::string> synthetic_architectures() { return {"qwen2", "qwen-image-edit"}; }

std::vector<std::string> synthetic_presets(const std::string& architecture) {
  std::vector<std::string> names;
  if (architecture == "qwen2")
    for (const auto& [name, c] : qwen2_presets()) names.push_back(name);
  if (architecture == "qwen-image-edit")
    for (const auto& [name, c] : pipeline_presets()) names.push_back(name);
  return names;
}

SynthModel synthetic_architecture(const std::string& architecture, const std::string& preset, bool legacy_names) {
  if (architecture == "qwen2") return qwen2(preset);
  if (architecture == "qwen-image-edit") return qwen_image_edit(preset, legacy_names);
  throw UsageError("unknown architecture '" + architecture + "'" + text::did_you_mean(architecture, synthetic_architectures()),
                   "architectures: " + text::join(synthetic_architectures(), ", "));
}

}  // namespace vramguard
