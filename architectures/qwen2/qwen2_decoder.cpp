#include "qwen2/qwen2_decoder.hpp"

#include <ATen/Functions.h>
#include <ATen/TensorOperators.h>

#include <algorithm>
#include <cmath>

#include "common/attention.hpp"
#include "common/component_config.hpp"
#include "common/named_inputs.hpp"
#include "common/tensor_shapes.hpp"
#include "core/errors.hpp"

namespace vramguard::runtime::qwen2 {

Layout layout_of(const ComponentDescription& component, const std::string& family) {
  return layout_of(component, read_qwen2_config(component.config, config_file_of(component), family), family);
}

Layout layout_of(const ComponentDescription& component, const Qwen2Config& config, const std::string& family) {
  Layout l;
  static_cast<Qwen2Config&>(l) = config;
  // Qwen2.5-VL's multimodal rope gives every section the same position on text: plain rope then.
  if (l.rope_type != "default" && l.rope_type != "mrope")
    throw InputError(config_file_of(component),
                     "uses rope type '" + l.rope_type + "', which the " + family + " architecture does not implement",
                     "only default rope is supported");
  // module(), not find(): a large vocabulary is stored as row slices, and its whole unit does not exist.
  l.prefix = component.module("model.language_model.embed_tokens").empty() ? "model." : "model.language_model.";
  // A config that names fewer layers than the checkpoint holds would silently run part of the model.
  std::int64_t stored = 0;
  while (component.find(l.prefix + "layers." + std::to_string(stored))) ++stored;
  if (stored == 0 && l.layers > 0) refuse_checkpoint_without_blocks(component, l.prefix + "layers.0");
  if (stored != l.layers)
    throw InputError(config_file_of(component),
                     "\"num_hidden_layers\" is " + std::to_string(l.layers) + " but the checkpoint holds " +
                         std::to_string(stored) + " layers",
                     "the config and the weights are of different models");
  return l;
}

std::string layer_name(const Layout& l, std::int64_t i) { return l.prefix + "layers." + std::to_string(i); }

void check_weights(const ComponentDescription& c, const Layout& l, std::vector<SynthTensor> expected) {
  // A tied head is the embedding: a checkpoint may leave lm_head out, or hold it (as the description does).
  if (l.tie && has_tensor(c, "lm_head.weight")) expected.push_back({"lm_head.weight", {l.vocab, l.hidden}});
  check_tensor_shapes(c, expected,
                      "hidden_size, intermediate_size, num_hidden_layers, num_attention_heads, num_key_value_heads, "
                      "head_dim, vocab_size, tie_word_embeddings");
}

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  const auto input = x.scalar_type();
  auto h = x.to(at::kFloat);
  h = h * at::rsqrt(h.pow(2).mean(-1, true) + eps);
  return weight * h.to(input);
}

at::Tensor rotate_half(const at::Tensor& x) {
  const auto half = x.size(-1) / 2;
  return at::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
}

// cos and sin of every position: computed in float32 as transformers does, then cast.
Rotary rotary(const Layout& l, std::int64_t tokens, c10::Device device, c10::ScalarType dtype) {
  const auto options = at::TensorOptions().dtype(at::kFloat).device(device);
  const auto inv_freq = 1.0 / at::pow(l.theta, at::arange(0, l.head_dim, 2, options) / static_cast<double>(l.head_dim));
  const auto freqs = at::outer(at::arange(tokens, options), inv_freq);
  const auto emb = at::cat({freqs, freqs}, -1);
  return {emb.cos().to(dtype).unsqueeze(0).unsqueeze(0), emb.sin().to(dtype).unsqueeze(0).unsqueeze(0)};
}

at::Tensor decoder_layer(const Layout& l, const UnitScope& unit, const at::Tensor& x, const Rotary& rope,
                         const at::Tensor& key_mask) {
  const auto batch = x.size(0), tokens = x.size(1);
  auto h = rms_norm(x, unit["input_layernorm.weight"], l.eps);
  auto q = unit.linear("self_attn.q_proj", h);
  auto k = unit.linear("self_attn.k_proj", h);
  auto v = unit.linear("self_attn.v_proj", h);
  q = q.view({batch, tokens, l.heads, l.head_dim}).transpose(1, 2);
  k = k.view({batch, tokens, l.kv_heads, l.head_dim}).transpose(1, 2);
  v = v.view({batch, tokens, l.kv_heads, l.head_dim}).transpose(1, 2);
  q = q * rope.cos + rotate_half(q) * rope.sin;
  k = k * rope.cos + rotate_half(k) * rope.sin;
  if (l.kv_heads != l.heads) {  // each key/value head serves heads / kv_heads query heads
    const auto groups = l.heads / l.kv_heads;
    k = k.unsqueeze(2)
            .expand({batch, l.kv_heads, groups, tokens, l.head_dim})
            .reshape({batch, l.heads, tokens, l.head_dim});
    v = v.unsqueeze(2)
            .expand({batch, l.kv_heads, groups, tokens, l.head_dim})
            .reshape({batch, l.heads, tokens, l.head_dim});
  }
  auto attention = causal_attention(q, k, v, 1.0 / std::sqrt(static_cast<double>(l.head_dim)), key_mask);
  attention = attention.transpose(1, 2).reshape({batch, tokens, l.heads * l.head_dim});
  auto out = x + unit.linear("self_attn.o_proj", attention);
  h = rms_norm(out, unit["post_attention_layernorm.weight"], l.eps);
  const auto gate = at::silu(unit.linear("mlp.gate_proj", h));
  return out + unit.linear("mlp.down_proj", gate * unit.linear("mlp.up_proj", h));
}

// A lookup of each id's row. A vocabulary split into row slices is looked up slice by
// slice, each slice filling the positions whose ids fall in its rows.
at::Tensor embed(Session& session, const std::string& component, const std::string& module,
                 const at::Tensor& input_ids) {
  const auto units = session.module_units(component, module);
  if (units.size() == 1) {
    UnitScope whole = session.unit(component, units.front());
    return at::embedding(whole["weight"], input_ids.to(whole.device(), at::kLong));
  }
  at::Tensor x;
  for (std::size_t index : units) {
    UnitScope slice = session.unit(component, index);
    const at::Tensor& weight = slice["weight"];
    const auto ids = input_ids.to(slice.device(), at::kLong);
    const auto first = slice.first_row(), rows = weight.size(0);
    const auto inside = ids.ge(first).logical_and(ids.lt(first + rows)).unsqueeze(-1);
    const auto found = at::embedding(weight, (ids - first).clamp(0, rows - 1)) * inside.to(weight.scalar_type());
    x = x.defined() ? x + found.to(x.device(), /*non_blocking=*/true) : found;
  }
  return x;
}

at::Tensor head_logits(Session& session, const std::string& component, const at::Tensor& hidden) {
  const auto units = session.module_units(component, "lm_head");
  std::int64_t vocabulary = 0;  // the head's rows, which a padded vocabulary makes larger than vocab_size
  for (const UnitDescription* slice : session.description().find(component)->module("lm_head"))
    vocabulary += slice->tensors.front().shape.at(0);
  if (units.size() == 1) {
    UnitScope whole = session.unit(component, units.front());
    return at::linear(hidden.to(whole.device(), true), whole["weight"]);
  }
  at::Tensor logits;
  for (std::size_t index : units) {
    UnitScope slice = session.unit(component, index);
    const at::Tensor& weight = slice["weight"];
    const auto part = at::linear(hidden.to(slice.device(), true), weight);
    if (!logits.defined()) {
      auto sizes = part.sizes().vec();
      sizes.back() = vocabulary;
      logits = at::empty(sizes, part.options());
    }
    logits.narrow(-1, slice.first_row(), weight.size(0)).copy_(part, /*non_blocking=*/true);
  }
  return logits;
}

}  // namespace vramguard::runtime::qwen2
