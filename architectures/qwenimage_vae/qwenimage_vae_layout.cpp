#include <vector>
#include "qwenimage_vae/qwenimage_vae_layout.hpp"

namespace vramguard {
namespace {

void vae_residual(SynthBuilder& b, const std::string& p, std::int64_t in, std::int64_t out) {
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

void vae_attention(SynthBuilder& b, const std::string& p, std::int64_t dim) {
  b.add(p + ".norm.gamma", {dim, 1, 1});
  b.add(p + ".to_qkv.weight", {3 * dim, dim, 1, 1});
  b.add(p + ".to_qkv.bias", {3 * dim});
  b.add(p + ".proj.weight", {dim, dim, 1, 1});
  b.add(p + ".proj.bias", {dim});
}

void vae_mid(SynthBuilder& b, const std::string& p, std::int64_t dim) {
  vae_residual(b, p + ".resnets.0", dim, dim);
  vae_attention(b, p + ".attentions.0", dim);
  vae_residual(b, p + ".resnets.1", dim, dim);
}

void vae_tensors(SynthBuilder& b, const VaeConfig& c) {
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

}  // namespace

SynthComponent qwenimage_vae_component(const VaeConfig& c) {
  nlohmann::ordered_json temporal = nlohmann::ordered_json::array();
  for (bool t : c.temporal_downsample) temporal.push_back(t);
  SynthComponent vae_component{
      "vae",
      "diffusion_pytorch_model",
      nlohmann::ordered_json{{"_class_name", "AutoencoderKLQwenImage"},
                             {"_diffusers_version", "0.36.0"},
                             {"base_dim", c.base_dim},
                             {"z_dim", c.z_dim},
                             {"dim_mult", c.dim_mult},
                             {"num_res_blocks", c.res_blocks},
                             {"attn_scales", nlohmann::ordered_json::array()},
                             {"temperal_downsample", temporal},
                             // The latents' per-channel statistics the pipeline normalizes with; neutral here.
                             {"latents_mean", std::vector<double>(static_cast<std::size_t>(c.z_dim), 0.0)},
                             {"latents_std", std::vector<double>(static_cast<std::size_t>(c.z_dim), 1.0)}},
      {}};
  SynthBuilder vb{vae_component.tensors};
  vae_tensors(vb, c);

  return vae_component;
}

}  // namespace vramguard
