#include "model/architecture.hpp"

namespace vramguard {

// Four units: the encoder, its quantizing convolution, the decoder's, the decoder.
namespace {

ArchitectureDescription qwenimage_vae_units(const std::string& class_name, const ArchitectureConfig& config) {
  ArchitectureDescription d;
  d.name = class_name;
  d.rules = {
      {{"encoder."}, UnitKind::other, false},
      {{"quant_conv."}, UnitKind::other, false},
      {{"post_quant_conv."}, UnitKind::other, false},
      {{"decoder."}, UnitKind::other, false},
  };
  // Per output pixel while decoding at full resolution: base_dim-channel feature maps (the residual
  // blocks' inputs, norms and convolutions, the upsampler's) plus the causal convolutions' caches. The
  // whole Qwen-Image-Edit pipeline peaked at 4.8 GB of activations for a 1024x1024 edit on the H200
  // (diffusers 0.40, bf16): about 24 such maps.
  d.activation_elements_per_token = 24 * config.number("base_dim", 96);
  d.default_tokens = 1024 * 1024;
  return d;
}

}  // namespace

// What the host knows of qwenimage_vae: the config classes it serves and their units (vramguard_family in
// architectures/CMakeLists.txt registers it).
UnitFamily family_spec_qwenimage_vae() { return {{"AutoencoderKLQwenImage"}, qwenimage_vae_units}; }

}  // namespace vramguard
