#include "model/architecture.hpp"
#include "qwen2_5_vl/qwen2_5_vl_config.hpp"
#include "qwen2/qwen2_spec.hpp"

namespace vramguard {

namespace {

// The vision tower's units first (the encoder runs it before the language model), then the decoder's.
ArchitectureDescription qwen2_5_vl_units(const std::string& class_name, const ArchitectureConfig& config) {
  const Qwen25VlConfig c = read_qwen2_5_vl_config(config.values, config.file);
  ArchitectureDescription d = qwen2_decoder_units(class_name, c.text);
  // transformers 5 names first, then the names of checkpoints saved by older versions.
  d.rules = {
      {{"model.visual.patch_embed.", "visual.patch_embed."}, UnitKind::embedding, false},
      {{"model.visual.blocks.", "visual.blocks."}, UnitKind::block, true},
      {{"model.visual.merger.", "visual.merger."}, UnitKind::other, false},
      {{"model.language_model.embed_tokens.", "model.embed_tokens."}, UnitKind::embedding, false},
      {{"model.language_model.layers.", "model.layers."}, UnitKind::block, true},
      {{"model.language_model.norm.", "model.norm."}, UnitKind::head, false},
      {{"lm_head."}, UnitKind::head, false},
  };
  // Per token of a prompt (the vision tower's share is counted where a call's pictures are known).
  d.activation_bytes_per_token = [c](double element_bytes) {
    return qwen2_5_vl_activation_bytes(c.text, c.vision, element_bytes, 1, 0, true);
  };
  d.default_tokens = 1536;  // a 1024×1024 edit image and a prompt, after the vision merger
  return d;
}

}  // namespace

// What the host knows of qwen2_5_vl: the config classes it serves and their units (vramguard_family in
// architectures/CMakeLists.txt registers it).
UnitFamily family_spec_qwen2_5_vl() { return {{"Qwen2_5_VLForConditionalGeneration"}, qwen2_5_vl_units}; }

}  // namespace vramguard
