#include "model/architecture.hpp"
#include "qwenimage_transformer/qwenimage_transformer_config.hpp"

namespace vramguard {

// In the order the forward pass uses them: the timestep embedding, the text norm, the two input
// projections, the blocks, the output norm and projection.
namespace {

ArchitectureDescription qwenimage_transformer_units(const std::string& class_name, const ArchitectureConfig& config) {
  ArchitectureDescription d;
  d.name = class_name;
  d.rules = {
      {{"time_text_embed."}, UnitKind::embedding, false},
      {{"txt_norm."}, UnitKind::embedding, false},
      {{"img_in."}, UnitKind::embedding, false},
      {{"txt_in."}, UnitKind::embedding, false},
      {{"transformer_blocks."}, UnitKind::block, true},
      {{"norm_out."}, UnitKind::head, false},
      {{"proj_out."}, UnitKind::head, false},
  };
  const MmditConfig c = read_mmdit_config(config.values, config.file);
  d.activation_bytes_per_token = [c](double element_bytes) { return c.activation_bytes_per_token(element_bytes); };
  d.attention_flops_per_token_pair = 4.0 * static_cast<double>(c.inner());  // joint attention, no mask
  d.default_tokens = 8448;  // 1024×1024 edit: 4096 target + 4096 reference latent tokens + 256 text
  return d;
}

}  // namespace

// What the host knows of qwenimage_transformer: the config classes it serves and their units (vramguard_family in
// architectures/CMakeLists.txt registers it).
UnitFamily family_spec_qwenimage_transformer() {
  return {{"QwenImageTransformer2DModel"}, qwenimage_transformer_units};
}

}  // namespace vramguard
