#pragma once
// diffusers' AutoencoderKLQwenImage: tensors and config.json from a config.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "layout_builder.hpp"

namespace vramguard {

struct VaeConfig {
  std::int64_t base_dim, z_dim, res_blocks;
  std::vector<std::int64_t> dim_mult;
  std::vector<bool> temporal_downsample;
};
SynthComponent qwenimage_vae_component(const VaeConfig& c);

}  // namespace vramguard
