#include "qwen2/qwen2_spec.hpp"

namespace vramguard {

ArchitectureDescription qwen2_decoder_units(const std::string& class_name, const Qwen2Config& c) {
  ArchitectureDescription d;
  d.name = class_name;
  d.rules = {
      {{"model.embed_tokens."}, UnitKind::embedding, false},
      {{"model.layers."}, UnitKind::block, true},
      {{"model.norm."}, UnitKind::head, false},
      {{"lm_head."}, UnitKind::head, false},
  };
  d.tied = c.tie;
  d.tied_head_tensor = "lm_head.weight";
  d.tied_embedding_tensor = "model.embed_tokens.weight";
  d.activation_bytes_per_token = [c](double element_bytes) {
    return c.activation_bytes_per_token(element_bytes, true);
  };
  // Scores and the weighted sum: 2 × hidden each per pair of tokens, half the pairs under a causal mask.
  d.attention_flops_per_token_pair = 2.0 * static_cast<double>(c.hidden);
  d.default_tokens = 2048;
  return d;
}

// What the host knows of qwen2: the config classes it serves and their units (vramguard_family in
// architectures/CMakeLists.txt registers it).
UnitFamily family_spec_qwen2() {
  return {
      {"Qwen2ForCausalLM", "Qwen3ForCausalLM", "LlamaForCausalLM", "MistralForCausalLM", "Qwen2Model", "LlamaModel"},
      [](const std::string& class_name, const ArchitectureConfig& config) {
        return qwen2_decoder_units(class_name, read_qwen2_config(config.values, config.file, class_name));
      }};
}

}  // namespace vramguard
