#include "model/architecture.hpp"
#include "qwenimage_vae/qwenimage_vae_config.hpp"

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
  // A "token" here is a pixel of the picture (the planning workload's default: 1024×1024).
  const VaeConfig c = read_vae_config(config.values, config.file);
  d.activation_bytes_per_token = [c](double element_bytes) { return c.activation_bytes_per_pixel(element_bytes); };
  d.default_tokens = 1024 * 1024;
  return d;
}

}  // namespace

// What the host knows of qwenimage_vae: the config classes it serves and their units (vramguard_family in
// architectures/CMakeLists.txt registers it).
UnitFamily family_spec_qwenimage_vae() { return {{"AutoencoderKLQwenImage"}, qwenimage_vae_units}; }

}  // namespace vramguard
