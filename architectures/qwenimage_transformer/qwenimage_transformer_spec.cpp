#include "model/architecture.hpp"
#include "qwenimage_transformer/qwenimage_transformer_config.hpp"

#include <string>
#include <string_view>

namespace vramguard {

// In the order the forward pass uses them: the timestep embedding, the text norm, the two input
// projections, the blocks, the output norm and projection.
namespace {

// Each token passes through one stream of a block: the image stream's weights (attn.to_q/k/v and to_out,
// img_mlp) multiply the image tokens, the text stream's (attn.add_q/k/v_proj and to_add_out, txt_mlp) the
// text tokens. Both streams' weights have the same shapes, so a token costs one stream's arithmetic
// whatever the split: each stream's weights count at half the pass's tokens. The modulations (img_mod,
// txt_mod, norm_out's and the timestep embedding's) multiply one row a sample: nothing per token. The
// input and output projections count for every token (a few MFLOP of a token's ~14 G).
double mmdit_token_share(const std::string& tensor) {
  const auto starts = [&](std::string_view prefix) { return tensor.rfind(prefix, 0) == 0; };
  const auto holds = [&](std::string_view part) { return tensor.find(part) != std::string::npos; };
  if (starts("time_text_embed.") || starts("norm_out.") || holds(".img_mod.") || holds(".txt_mod.")) return 0.0;
  if (starts("transformer_blocks.")) return 0.5;
  return 1.0;
}

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
  d.elementwise_bytes_per_token = [c](double element_bytes, bool fp8_matmuls) {
    return c.elementwise_bytes_per_token(element_bytes, fp8_matmuls);
  };
  d.token_share = mmdit_token_share;
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
