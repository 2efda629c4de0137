#pragma once
// The Qwen2 decoder, shared by the qwen2 family (a language model on text) and qwen2_5_vl (the same
// decoder under multimodal rotary positions): the config's dimensions, the layers, the embedding and
// the head (either may be split in row slices), each against the runtime API.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "model/component_layout.hpp"
#include "qwen2/qwen2_config.hpp"
#include "vramguard/runtime/session.hpp"

namespace vramguard::runtime::qwen2 {

// The config as the family reads it (qwen2_config.cpp), and where the layers sit in the checkpoint.
struct Layout : Qwen2Config {
  std::string prefix;  // "model." or, in Qwen2.5-VL, "model.language_model." (or "model." in older files)
};

// From config.json (text_config when nested), and the checkpoint's layers checked against it. `family`
// names the model in messages.
Layout layout_of(const ComponentDescription& component, const std::string& family);
// The same from a config already read (Qwen2.5-VL reads its text side with the rest of its config).
Layout layout_of(const ComponentDescription& component, const Qwen2Config& config, const std::string& family);
std::string layer_name(const Layout& l, std::int64_t layer);
// The checkpoint holds exactly the tensors of the family's layout (`expected`, from the config), each of its
// shape; InputError naming the first that differs.
void check_weights(const ComponentDescription& component, const Layout& l, std::vector<SynthTensor> expected);

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);
at::Tensor rotate_half(const at::Tensor& x);

// cos and sin, broadcastable against [batch, heads, tokens, head_dim], in the activations' dtype.
struct Rotary {
  at::Tensor cos, sin;
};
// Plain rope: position t for token t.
Rotary rotary(const Layout& l, std::int64_t tokens, c10::Device device, c10::ScalarType dtype);

// One decoder layer. `key_mask` [batch, tokens] (bool, true = attend) hides padding; undefined: none.
at::Tensor decoder_layer(const Layout& l, const UnitScope& unit, const at::Tensor& x, const Rotary& rope,
                         const at::Tensor& key_mask);
// Token embeddings (slice by slice when the vocabulary is split).
at::Tensor embed(Session& session, const std::string& component, const std::string& module,
                 const at::Tensor& input_ids);
// The output head: each slice computes its columns of the logits.
at::Tensor head_logits(Session& session, const std::string& component, const at::Tensor& hidden);

}  // namespace vramguard::runtime::qwen2
