#pragma once
// Qwen-Image's VAE (diffusers' AutoencoderKLQwenImage): its config.json, read once here for planning,
// synth, the checks, the forward code and the edit pipeline alike, and the activations it holds.
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace vramguard {

struct VaeConfig {
  std::int64_t base_dim = 96, z_dim = 16, res_blocks = 2;
  std::vector<std::int64_t> dim_mult{1, 2, 4, 4};
  std::vector<bool> temporal_downsample{false, true, true};  // one per level of dim_mult but the last
  std::int64_t input_channels = 3;
  // The latents' per-channel statistics the pipeline normalizes with: z_dim each, or empty where the
  // config has none.
  std::vector<double> latents_mean, latents_std;

  // Pixels per latent along each side: 2 for each down-sampling level.
  std::int64_t compression() const { return std::int64_t{1} << (dim_mult.size() - 1); }
  // What encoding or decoding holds per pixel of the picture (untiled), at the level where it holds the
  // most: a residual block's second norm — the block's input, the first convolution's output, its float32
  // copy, the normalized map and the scaled one at once (5 elements and 4 bytes a channel) — over the
  // block's channels, or the up-sampled ones the decoder's first block at that level takes in where more.
  // (An up-sampler holds 1.75 maps of the level below's channels at this level's pixels — its input, the
  // map doubled along one side, then both — always less than the block after it.) At Qwen-Image's sizes
  // the full-resolution blocks hold the most: 1.41 GB at 1024² in bf16, where the VAE's measured peak less
  // its weights was 1.44 GB (encode and decode alike, on an H200).
  double activation_bytes_per_pixel(double element_bytes) const {
    double most = 0;
    for (std::size_t level = 0; level < dim_mult.size(); ++level) {
      const double up_sampled =
          level + 1 < dim_mult.size() ? static_cast<double>(base_dim * dim_mult[level + 1]) / 2 : 0;
      const double channels = std::max(static_cast<double>(base_dim * dim_mult[level]), up_sampled);
      const double share = 1.0 / static_cast<double>(std::int64_t{1} << (2 * level));  // of the picture's pixels
      most = std::max(most, share * channels * (5 * element_bytes + 4));
    }
    return most;
  }
};

// From config.json's values (`file` names it in complaints); InputError for a value out of range.
VaeConfig read_vae_config(const nlohmann::json& config, const std::string& file);

}  // namespace vramguard
