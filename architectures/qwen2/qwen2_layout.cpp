#include "qwen2/qwen2_layout.hpp"

namespace vramguard {

void qwen2_layers(SynthBuilder& b, const std::string& prefix, const Qwen2Config& c) {
  for (std::int64_t i = 0; i < c.layers; ++i) {
    const std::string p = prefix + std::to_string(i);
    b.linear(p + ".self_attn.q_proj", c.hidden, c.hidden);
    b.linear(p + ".self_attn.k_proj", c.kv_heads * c.head_dim, c.hidden);
    b.linear(p + ".self_attn.v_proj", c.kv_heads * c.head_dim, c.hidden);
    b.linear(p + ".self_attn.o_proj", c.hidden, c.hidden, false);
    b.linear(p + ".mlp.gate_proj", c.intermediate, c.hidden, false);
    b.linear(p + ".mlp.up_proj", c.intermediate, c.hidden, false);
    b.linear(p + ".mlp.down_proj", c.hidden, c.intermediate, false);
    b.add(p + ".input_layernorm.weight", {c.hidden});
    b.add(p + ".post_attention_layernorm.weight", {c.hidden});
  }
}

nlohmann::ordered_json qwen2_json(const Qwen2Config& c, const std::string& architecture) {
  return nlohmann::ordered_json{{"architectures", {architecture}},   {"model_type", "qwen2"},
                                {"hidden_size", c.hidden},           {"intermediate_size", c.intermediate},
                                {"num_hidden_layers", c.layers},     {"num_attention_heads", c.heads},
                                {"num_key_value_heads", c.kv_heads}, {"vocab_size", c.vocab},
                                {"tie_word_embeddings", c.tie},      {"torch_dtype", "bfloat16"}};
}

SynthComponent qwen2_component(const Qwen2Config& c) {
  SynthComponent component{"model", "model", qwen2_json(c, "Qwen2ForCausalLM"), {}};
  SynthBuilder b{component.tensors};
  b.add("model.embed_tokens.weight", {c.vocab, c.hidden});
  qwen2_layers(b, "model.layers.", c);
  b.add("model.norm.weight", {c.hidden});
  if (!c.tie) b.add("lm_head.weight", {c.vocab, c.hidden});
  return component;
}

}  // namespace vramguard
