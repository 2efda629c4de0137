#pragma once
// Qwen2 / Qwen2.5 decoders (transformers' Qwen2ForCausalLM, and the text side of Qwen2.5-VL): config.json,
// read once here for planning, synth, the checks and the forward code alike, and the activations a
// layer holds per token.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace vramguard {

struct Qwen2Config {
  std::int64_t hidden = 0, layers = 0, intermediate = 0, heads = 0, kv_heads = 0, vocab = 0;
  bool tie = false;  // tie_word_embeddings: the head's weight is the embedding's
  std::int64_t head_dim = 0, positions = 32768;
  double eps = 1e-6, theta = 10000;
  std::vector<std::int64_t> mrope_section;  // multimodal rope: the head's half split into time, height, width
  std::string rope_type = "default";        // "default" or "mrope" run; planning takes any

  // Within one layer: the residual, the normed input, q/k/v and the attention's output, the MLP's gate,
  // up and product; then the logits where the head runs (a sliced head holds a slice's share at once,
  // and its full logits are counted here: measured on the H200, 2 B shapes at 2,048 tokens peaked at
  // 1.45 GB of activations, this counts 1.42 GB).
  double activation_bytes_per_token(double element_bytes, bool with_logits) const {
    return static_cast<double>(5 * hidden + 3 * intermediate + (with_logits ? 2 * vocab : 0)) * element_bytes;
  }
};

// From config.json's values (text_config when nested, as Qwen2.5-VL's newer configs have it); `file`
// names it in complaints and `family` the model it is read for. InputError for a missing or out-of-range
// value.
Qwen2Config read_qwen2_config(const nlohmann::json& config, const std::string& file, const std::string& family);

}  // namespace vramguard
