#include "qwenimage_transformer/qwenimage_transformer_layout.hpp"

namespace vramguard {
namespace {

void mmdit_tensors(SynthBuilder& b, const MmditConfig& c) {
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
    for (const char* proj :
         {"to_q", "to_k", "to_v", "add_k_proj", "add_v_proj", "add_q_proj", "to_out.0", "to_add_out"})
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

}  // namespace

SynthComponent qwenimage_transformer_component(const MmditConfig& c) {
  SynthComponent transformer{"transformer",
                             "diffusion_pytorch_model",
                             nlohmann::ordered_json{{"_class_name", "QwenImageTransformer2DModel"},
                                                    {"_diffusers_version", "0.36.0"},
                                                    {"patch_size", c.patch},
                                                    {"in_channels", c.in_channels},
                                                    {"out_channels", c.out_channels},
                                                    {"num_layers", c.layers},
                                                    {"attention_head_dim", c.head_dim},
                                                    {"num_attention_heads", c.heads},
                                                    {"joint_attention_dim", c.joint_dim},
                                                    {"axes_dims_rope", c.axes_dims_rope},
                                                    {"guidance_embeds", false},
                                                    {"zero_cond_t", c.zero_cond_t}},
                             {}};
  SynthBuilder xb{transformer.tensors};
  mmdit_tensors(xb, c);

  return transformer;
}

}  // namespace vramguard
