#include "qwen2/qwen2_config.hpp"

#include "config_values.hpp"
#include "core/errors.hpp"

namespace vramguard {

Qwen2Config read_qwen2_config(const nlohmann::json& values, const std::string& file, const std::string& family) {
  const ConfigValues outer(values, file, family);
  // Qwen2.5-VL nests the language model's dimensions under text_config in newer transformers.
  const ConfigValues text = outer.section("text_config").has("hidden_size") ? outer.section("text_config") : outer;
  Qwen2Config c;
  c.hidden = text.positive_integer("hidden_size");
  c.heads = text.positive_integer("num_attention_heads");
  c.kv_heads = text.positive_integer("num_key_value_heads", c.heads);
  c.vocab = text.positive_integer("vocab_size");
  c.layers = text.positive_integer("num_hidden_layers");
  c.head_dim = text.positive_integer("head_dim", c.hidden / c.heads);
  c.positions = text.positive_integer("max_position_embeddings", c.positions);
  c.intermediate = text.positive_integer("intermediate_size", 4 * c.hidden);
  c.eps = text.positive_number("rms_norm_eps", c.eps);
  c.tie = text.flag("tie_word_embeddings", outer.flag("tie_word_embeddings", false));
  // transformers 5 keeps rope_theta in rope_parameters; older configs at the top level.
  c.theta = text.positive_number("rope_theta", outer.positive_number("rope_theta", c.theta));
  for (const char* key : {"rope_parameters", "rope_scaling"}) {
    if (!text.has(key) || !text.json()[key].is_object()) continue;
    const ConfigValues rope = text.section(key);
    c.theta = rope.positive_number("rope_theta", c.theta);
    c.mrope_section = rope.integers("mrope_section", {});
    c.rope_type = rope.json().value("rope_type", rope.json().value("type", std::string("default")));
    if (rope.json().value("type", std::string()) == "mrope") c.rope_type = "mrope";
  }
  if (c.heads % c.kv_heads != 0)
    throw InputError(text.file(), "\"num_attention_heads\" (" + std::to_string(c.heads) +
                                      ") is not a multiple of \"num_key_value_heads\" (" + std::to_string(c.kv_heads) +
                                      ")");
  return c;
}

}  // namespace vramguard
