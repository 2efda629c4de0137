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
  // What encoding or decoding holds per pixel of the picture (untiled): the widest feature map — each
  // level's channels at its resolution, doubled where an up-sampler holds its input at the next one —
  // held as a residual block's input, its shortcut, the normed map (and its float32 copy) and a
  // convolution's output at once.
  double activation_bytes_per_pixel(double element_bytes) const {
    double widest = 0;
    for (std::size_t level = 0; level < dim_mult.size(); ++level)
      widest = std::max(widest, 2.0 * static_cast<double>(base_dim * dim_mult[level]) /
                                    static_cast<double>(std::int64_t{1} << (2 * level)));
    return widest * (5 * element_bytes + 4);
  }
};

// From config.json's values (`file` names it in complaints); InputError for a value out of range.
VaeConfig read_vae_config(const nlohmann::json& config, const std::string& file);

}  // namespace vramguard
