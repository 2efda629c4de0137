#pragma once
// diffusers' AutoencoderKLQwenImage: tensors and config.json from a config.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "layout_builder.hpp"
#include "qwenimage_vae/qwenimage_vae_config.hpp"

namespace vramguard {

SynthComponent qwenimage_vae_component(const VaeConfig& c);

}  // namespace vramguard
