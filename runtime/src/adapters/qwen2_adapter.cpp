#include "adapters/qwen2_adapter.hpp"

#include <ATen/Functions.h>
#include <ATen/TensorOperators.h>

#include <cmath>
#include <set>

#include "adapters/attention.hpp"
#include "core/errors.hpp"

namespace vramguard::runtime {
namespace {

const std::set<std::string> kClasses = {"Qwen2ForCausalLM", "Qwen2_5_VLForConditionalGeneration"};
const char* kLayerTensors[] = {"input_layernorm.weight", "self_attn.q_proj.weight", "self_attn.k_proj.weight",
                               "self_attn.v_proj.weight", "self_attn.o_proj.weight", "post_attention_layernorm.weight",
                               "mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight"};

// What the config and the unit names say, checked once.
struct Layout {
  std::string prefix;  // "model." or, in Qwen2.5-VL, "model.language_model." (or "model." in older files)
  std::int64_t hidden = 0, heads = 0, kv_heads = 0, head_dim = 0, vocab = 0, positions = 0, layers = 0;
  double eps = 1e-6, theta = 10000;
};

double number(const nlohmann::json& config, const char* key, double fallback, const std::string& file) {
  const auto it = config.find(key);
  if (it == config.end() || it->is_null()) return fallback;
  if (!it->is_number()) throw InputError(file, std::string("\"") + key + "\" must be a number");
  return it->get<double>();
}

std::int64_t required(const nlohmann::json& config, const char* key, const std::string& file) {
  const auto it = config.find(key);
  if (it == config.end() || !it->is_number_integer() || it->get<std::int64_t>() <= 0)
    throw InputError(file, std::string("needs a positive integer \"") + key + "\" to run a Qwen2 model");
  return it->get<std::int64_t>();
}

Layout layout_of(const ComponentDescription& component) {
  const std::string& file = component.config_file.empty() ? component.name : component.config_file;
  if (component.config.is_null()) throw InputError(component.name, "has no config.json: a Qwen2 model needs its dimensions from it");
  const nlohmann::json& outer = component.config;
  const auto nested = outer.find("text_config");
  const nlohmann::json& text = nested != outer.end() && nested->is_object() && nested->contains("hidden_size") ? *nested : outer;
  Layout l;
  l.hidden = required(text, "hidden_size", file);
  l.heads = required(text, "num_attention_heads", file);
  l.kv_heads = text.contains("num_key_value_heads") ? required(text, "num_key_value_heads", file) : l.heads;
  l.vocab = required(text, "vocab_size", file);
  l.layers = required(text, "num_hidden_layers", file);
  l.head_dim = text.contains("head_dim") && !text["head_dim"].is_null() ? required(text, "head_dim", file) : l.hidden / l.heads;
  l.positions = static_cast<std::int64_t>(number(text, "max_position_embeddings", 32768, file));
  l.eps = number(text, "rms_norm_eps", 1e-6, file);
  // transformers 5 keeps rope_theta in rope_parameters; older configs at the top level.
  l.theta = number(text, "rope_theta", number(outer, "rope_theta", 10000, file), file);
  for (const char* key : {"rope_parameters", "rope_scaling"}) {
    const auto rope = text.find(key);
    if (rope == text.end() || !rope->is_object()) continue;
    l.theta = number(*rope, "rope_theta", l.theta, file);
    const std::string type = rope->value("rope_type", rope->value("type", std::string("default")));
    // Qwen2.5-VL's multimodal rope gives every section the same position on text: plain rope then.
    if (type != "default" && type != "mrope")
      throw InputError(file, "uses rope type '" + type + "', which the qwen2 adapter does not implement", "only default rope is supported");
  }
  if (l.heads % l.kv_heads != 0) throw InputError(file, "num_attention_heads is not a multiple of num_key_value_heads");
  l.prefix = component.find("model.language_model.embed_tokens") ? "model.language_model." : "model.";
  return l;
}

std::string layer_name(const Layout& l, std::int64_t i) { return l.prefix + "layers." + std::to_string(i); }

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

struct Rotary {
  at::Tensor cos, sin;  // [tokens, head_dim], in the activations' dtype, on one device
};

// cos and sin of every position: computed in float32 as transformers does, then cast.
Rotary rotary(const Layout& l, std::int64_t tokens, c10::Device device, c10::ScalarType dtype) {
  const auto options = at::TensorOptions().dtype(at::kFloat).device(device);
  const auto inv_freq = 1.0 / at::pow(l.theta, at::arange(0, l.head_dim, 2, options) / static_cast<double>(l.head_dim));
  const auto freqs = at::outer(at::arange(tokens, options), inv_freq);
  const auto emb = at::cat({freqs, freqs}, -1);
  return {emb.cos().to(dtype), emb.sin().to(dtype)};
}

at::Tensor maybe_bias(const UnitScope& unit, const std::string& name) { return unit.has(name) ? unit[name] : at::Tensor(); }

at::Tensor decoder_layer(const Layout& l, const UnitScope& unit, const at::Tensor& x, const Rotary& rope) {
  const auto batch = x.size(0), tokens = x.size(1);
  auto h = rms_norm(x, unit["input_layernorm.weight"], l.eps);
  auto q = at::linear(h, unit["self_attn.q_proj.weight"], maybe_bias(unit, "self_attn.q_proj.bias"));
  auto k = at::linear(h, unit["self_attn.k_proj.weight"], maybe_bias(unit, "self_attn.k_proj.bias"));
  auto v = at::linear(h, unit["self_attn.v_proj.weight"], maybe_bias(unit, "self_attn.v_proj.bias"));
  q = q.view({batch, tokens, l.heads, l.head_dim}).transpose(1, 2);
  k = k.view({batch, tokens, l.kv_heads, l.head_dim}).transpose(1, 2);
  v = v.view({batch, tokens, l.kv_heads, l.head_dim}).transpose(1, 2);
  const auto cos = rope.cos.unsqueeze(0).unsqueeze(0), sin = rope.sin.unsqueeze(0).unsqueeze(0);
  q = q * cos + rotate_half(q) * sin;
  k = k * cos + rotate_half(k) * sin;
  if (l.kv_heads != l.heads) {  // each key/value head serves heads / kv_heads query heads
    const auto groups = l.heads / l.kv_heads;
    k = k.unsqueeze(2).expand({batch, l.kv_heads, groups, tokens, l.head_dim}).reshape({batch, l.heads, tokens, l.head_dim});
    v = v.unsqueeze(2).expand({batch, l.kv_heads, groups, tokens, l.head_dim}).reshape({batch, l.heads, tokens, l.head_dim});
  }
  auto attention = causal_attention(q, k, v, 1.0 / std::sqrt(static_cast<double>(l.head_dim)));
  attention = attention.transpose(1, 2).reshape({batch, tokens, l.heads * l.head_dim});
  auto out = x + at::linear(attention, unit["self_attn.o_proj.weight"]);
  h = rms_norm(out, unit["post_attention_layernorm.weight"], l.eps);
  const auto gate = at::silu(at::linear(h, unit["mlp.gate_proj.weight"]));
  return out + at::linear(gate * at::linear(h, unit["mlp.up_proj.weight"]), unit["mlp.down_proj.weight"]);
}

// Token embeddings: a lookup of each id's row. A vocabulary split into row slices is looked up slice by
// slice, each slice filling the positions whose ids fall in its rows.
at::Tensor embed(Session& session, const std::string& component, const std::string& module, const at::Tensor& input_ids) {
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

// The output head: each slice of the vocabulary computes its columns of the logits.
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

bool wants(const std::vector<std::string>& capture, const std::string& name) {
  return std::find(capture.begin(), capture.end(), name) != capture.end();
}

}  // namespace

bool Qwen2Adapter::handles(const ModelDescription& model, const std::string& component) const {
  const ComponentDescription* c = model.find(component);
  if (c == nullptr) return false;
  for (const auto& cls : c->classes)
    if (kClasses.count(cls)) return true;
  return false;
}

void Qwen2Adapter::check(const ModelDescription& model, const std::string& component, const at::Tensor& input_ids) const {
  const ComponentDescription* c = model.find(component);
  if (c == nullptr) throw InputError(model.source, "has no component '" + component + "'");
  const Layout l = layout_of(*c);
  auto need = [&](const std::string& unit, const std::string& tensor) {
    const auto parts = c->module(unit);
    const bool complete = !parts.empty() && std::all_of(parts.begin(), parts.end(), [&](const UnitDescription* u) {
      return u->find(unit + "." + tensor) != nullptr;
    });
    if (!complete)
      throw InputError(model.source, "unit " + unit + " has no tensor " + unit + "." + tensor + ", which the qwen2 adapter needs",
                       "the checkpoint is incomplete, or not a Qwen2 model");
  };
  need(l.prefix + "embed_tokens", "weight");
  for (std::int64_t i = 0; i < l.layers; ++i)
    for (const char* tensor : kLayerTensors) need(layer_name(l, i), tensor);
  need(l.prefix + "norm", "weight");
  need("lm_head", "weight");
  if (input_ids.dim() != 2) throw InputError("input_ids", "must be [batch, tokens], not " + std::to_string(input_ids.dim()) + "-dimensional");
  if (input_ids.size(1) == 0) throw InputError("input_ids", "holds no tokens");
  if (input_ids.size(1) > l.positions)
    throw InputError("input_ids", std::to_string(input_ids.size(1)) + " tokens are more than the model's " + std::to_string(l.positions) +
                                      " positions (max_position_embeddings)");
  if (input_ids.numel() > 0) {
    const auto ids = input_ids.to(at::kLong);
    const auto lowest = ids.min().item<std::int64_t>(), highest = ids.max().item<std::int64_t>();
    if (lowest < 0 || highest >= l.vocab)
      throw InputError("input_ids", "token id " + std::to_string(lowest < 0 ? lowest : highest) + " is outside the vocabulary of " +
                                        std::to_string(l.vocab) + " (ids 0.." + std::to_string(l.vocab - 1) + ")");
  }
}

std::int64_t Qwen2Adapter::vocabulary_size(const ModelDescription& model, const std::string& component) const {
  const ComponentDescription* c = model.find(component);
  if (c == nullptr) throw InputError(model.source, "has no component '" + component + "'");
  return layout_of(*c).vocab;
}

ForwardResult Qwen2Adapter::forward(Session& session, const std::string& component, const at::Tensor& input_ids,
                                    const std::vector<std::string>& capture) {
  const Layout l = layout_of(*session.description().find(component));
  const c10::ScalarType dtype = session.dtype(component);
  ForwardResult result;
  at::Tensor x = embed(session, component, l.prefix + "embed_tokens", input_ids);
  const auto tokens = input_ids.size(1);
  std::map<std::string, Rotary> rotaries;  // per device: activations move with the layers
  for (std::int64_t i = 0; i < l.layers; ++i) {
    UnitScope layer = session.unit(component, layer_name(l, i));
    x = x.to(layer.device(), /*non_blocking=*/true);
    const std::string device_key = layer.device().str();
    if (!rotaries.count(device_key)) rotaries.emplace(device_key, rotary(l, tokens, layer.device(), dtype));
    x = decoder_layer(l, layer, x, rotaries.at(device_key));
    if (i == 0 && wants(capture, "hidden_after_layer_0")) result.captures["hidden_after_layer_0"] = x.clone();
  }
  {
    UnitScope norm = session.unit(component, l.prefix + "norm");
    x = rms_norm(x.to(norm.device(), true), norm["weight"], l.eps);
  }
  if (wants(capture, "final_hidden")) result.captures["final_hidden"] = x.clone();
  result.logits = head_logits(session, component, x);
  return result;
}

}  // namespace vramguard::runtime
