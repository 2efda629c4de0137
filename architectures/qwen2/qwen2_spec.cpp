#include "qwen2/qwen2_spec.hpp"

#include "model/architecture.hpp"

namespace vramguard {

ArchitectureDescription qwen2_decoder_units(const std::string& class_name, const ArchitectureConfig& config) {
  const ArchitectureConfig text = config.text();
  ArchitectureDescription d;
  d.name = class_name;
  d.rules = {
      {{"model.embed_tokens."}, UnitKind::embedding, false},
      {{"model.layers."}, UnitKind::block, true},
      {{"model.norm."}, UnitKind::head, false},
      {{"lm_head."}, UnitKind::head, false},
  };
  d.tied = text.flag("tie_word_embeddings", config.flag("tie_word_embeddings", false));
  d.tied_head_tensor = "lm_head.weight";
  d.tied_embedding_tensor = "model.embed_tokens.weight";
  const double hidden = text.number("hidden_size", 4096);
  const double intermediate = text.number("intermediate_size", 4 * hidden);
  const double vocabulary = text.number("vocab_size", 32000);
  // Within one layer: residual, normed input, q/k/v/attention output, and the MLP's gate, up and product;
  // then the logits, with a slice's share of them while a sliced head computes (measured on the H200:
  // 2 B shapes at 2,048 tokens peaked at 1.45 GB of activations, this counts 1.42 GB).
  d.activation_elements_per_token = 5 * hidden + 3 * intermediate + 2 * vocabulary;
  // Scores and the weighted sum: 2 × hidden each per pair of tokens, half the pairs under a causal mask.
  d.attention_flops_per_token_pair = 2 * hidden;
  d.default_tokens = 2048;
  return d;
}

// What the host knows of qwen2: the config classes it serves and their units (vramguard_family in
// architectures/CMakeLists.txt registers it).
UnitFamily family_spec_qwen2() {
  return {
      {"Qwen2ForCausalLM", "Qwen3ForCausalLM", "LlamaForCausalLM", "MistralForCausalLM", "Qwen2Model", "LlamaModel"},
      qwen2_decoder_units};
}

}  // namespace vramguard
