#include "model/architecture.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

#include "core/errors.hpp"
#include "core/text.hpp"
#include "model/json_file.hpp"

namespace vramguard {
namespace {

using json = nlohmann::json;

// A config.json and the file it came from, so that a value of the wrong type is reported with both.
struct Config {
  const json& values;
  const std::string& file;
  double number(const char* key, double fallback) const { return json_number(values, key, fallback, file); }
  bool flag(const char* key, bool fallback) const { return json_bool(values, key, fallback, file); }
  // The language part: Qwen2.5-VL nests it under text_config in newer transformers.
  Config text() const {
    const auto it = values.find("text_config");
    return it != values.end() && it->is_object() && it->contains("hidden_size") ? Config{*it, file} : *this;
  }
};

std::vector<std::string> class_names(const std::optional<json>& config) {
  std::vector<std::string> names;
  if (!config) return names;
  if (const auto it = config->find("architectures"); it != config->end() && it->is_array())
    for (const auto& name : *it)
      if (name.is_string()) names.push_back(name.get<std::string>());
  if (const auto it = config->find("_class_name"); it != config->end() && it->is_string())
    names.push_back(it->get<std::string>());
  return names;
}

bool is_decoder_lm(const std::string& name) {
  static const std::set<std::string> known = {"Qwen2ForCausalLM", "Qwen3ForCausalLM", "LlamaForCausalLM",
                                              "MistralForCausalLM", "Qwen2Model", "LlamaModel"};
  return known.count(name) > 0;
}

ArchitectureDescription decoder_lm(const std::string& name, const Config& config) {
  const Config text = config.text();
  ArchitectureDescription d;
  d.name = name;
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

ArchitectureDescription qwen25_vl(const Config& config) {
  ArchitectureDescription d = decoder_lm("Qwen2_5_VLForConditionalGeneration", config);
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
  d.default_tokens = 1536;  // a 1024×1024 edit image and a prompt, after the vision merger
  return d;
}

ArchitectureDescription qwen_image_transformer(const Config& config) {
  ArchitectureDescription d;
  d.name = "QwenImageTransformer2DModel";
  d.rules = {
      {{"time_text_embed."}, UnitKind::embedding, false},
      {{"txt_norm."}, UnitKind::embedding, false},
      {{"img_in."}, UnitKind::embedding, false},
      {{"txt_in."}, UnitKind::embedding, false},
      {{"transformer_blocks."}, UnitKind::block, true},
      {{"norm_out."}, UnitKind::head, false},
      {{"proj_out."}, UnitKind::head, false},
  };
  const double inner = config.number("num_attention_heads", 24) * config.number("attention_head_dim", 128);
  // Per token in one block: modulation (6×), q/k/v/out (4×), the MLP's 4× hidden and its activation.
  d.activation_elements_per_token = 6 * inner + 4 * inner + 2 * 4 * inner;
  d.attention_flops_per_token_pair = 4 * inner;  // joint attention over image and text, no mask
  d.default_tokens = 8448;  // 1024×1024 edit: 4096 target + 4096 reference latent tokens + 256 text
  return d;
}

ArchitectureDescription qwen_image_vae(const Config& config) {
  ArchitectureDescription d;
  d.name = "AutoencoderKLQwenImage";
  d.rules = {
      {{"encoder."}, UnitKind::other, false},
      {{"quant_conv."}, UnitKind::other, false},
      {{"post_quant_conv."}, UnitKind::other, false},
      {{"decoder."}, UnitKind::other, false},
  };
  // Per output pixel while decoding at full resolution: base_dim-channel feature maps (the residual
  // blocks' inputs, norms and convolutions, the upsampler's) plus the causal convolutions' caches. The
  // whole Qwen-Image-Edit pipeline peaked at 4.8 GB of activations for a 1024x1024 edit on the H200
  // (diffusers 0.40, bf16): about 24 such maps.
  d.activation_elements_per_token = 24 * config.number("base_dim", 96);
  d.default_tokens = 1024 * 1024;
  return d;
}

bool embed_like(std::string_view name) {
  for (const char* word : {"embed", "wte", "wpe", "patch", "img_in", "txt_in", "conv_in"})
    if (name.find(word) != std::string_view::npos) return true;
  return false;
}

// Indexed stacks found by pattern: "<prefix><digits>." where the prefix has at least two indices.
ArchitectureDescription generic(const std::vector<std::string>& names) {
  ArchitectureDescription d;
  d.name = "generic";
  std::map<std::string, std::set<std::string>> indices;
  for (const auto& name : names) {
    std::size_t pos = 0;
    while ((pos = name.find('.', pos)) != std::string::npos) {
      std::size_t end = pos + 1;
      while (end < name.size() && std::isdigit(static_cast<unsigned char>(name[end]))) ++end;
      if (end > pos + 1 && end < name.size() && name[end] == '.') {
        indices[name.substr(0, pos + 1)].insert(name.substr(pos + 1, end - pos - 1));
        break;
      }
      ++pos;
    }
  }
  std::vector<std::string> stacks;
  for (const auto& [prefix, seen] : indices)
    if (seen.size() >= 2) stacks.push_back(prefix);
  std::stable_sort(stacks.begin(), stacks.end(), [](const std::string& a, const std::string& b) {
    const bool a_dec = a.find("decoder") != std::string::npos, b_dec = b.find("decoder") != std::string::npos;
    return a_dec != b_dec ? b_dec : a < b;
  });
  // Around the stacks: modules one level below the stacks' container, or top-level modules.
  std::vector<std::string> before, after;
  std::set<std::string> around;
  for (const auto& name : names) {
    bool in_stack = false;
    for (const auto& stack : stacks) in_stack = in_stack || text::starts_with(name, stack);
    if (in_stack) continue;
    std::size_t depth = 1;
    for (const auto& stack : stacks) {
      const auto container = stack.substr(0, stack.rfind('.', stack.size() - 2) + 1);
      if (!container.empty() && text::starts_with(name, container))
        depth = std::max<std::size_t>(depth, static_cast<std::size_t>(std::count(container.begin(), container.end(), '.')) + 1);
    }
    std::size_t cut = 0;
    for (std::size_t i = 0; i < depth && cut != std::string::npos; ++i) cut = name.find('.', cut == 0 && i == 0 ? 0 : cut + 1);
    if (cut == std::string::npos) continue;  // a bare top-level tensor: the fallback groups it
    const std::string prefix = name.substr(0, cut + 1);
    if (around.insert(prefix).second) (embed_like(prefix) ? before : after).push_back(prefix);
  }
  std::sort(before.begin(), before.end());
  std::sort(after.begin(), after.end());
  for (const auto& p : before) d.rules.push_back({{p}, UnitKind::embedding, false});
  for (const auto& p : stacks) d.rules.push_back({{p}, UnitKind::block, true});
  for (const auto& p : after) d.rules.push_back({{p}, UnitKind::head, false});
  d.activation_elements_per_token = 0;  // the inspector estimates it from the widest tensor
  d.default_tokens = 2048;
  return d;
}

}  // namespace

std::vector<UnitRule> parse_unit_rules(const std::string& spec) {
  std::vector<UnitRule> rules;
  for (const auto& raw : text::split(spec, ',')) {
    const std::string item(text::trim(raw));
    if (item.empty()) continue;
    const auto colon = item.find(':');
    if (colon == std::string::npos || colon + 1 == item.size())
      throw UsageError("unit rule '" + item + "' is not KIND:PREFIX",
                       "e.g. --unit-rules 'embedding:model.wte,block:model.h.,head:lm_head'");
    const std::string kind = item.substr(0, colon);
    std::string prefix = item.substr(colon + 1);
    UnitRule rule;
    if (kind == "embedding") rule.kind = UnitKind::embedding;
    else if (kind == "block") rule.kind = UnitKind::block;
    else if (kind == "head") rule.kind = UnitKind::head;
    else if (kind == "other") rule.kind = UnitKind::other;
    else throw UsageError("unit rule '" + item + "': kind must be embedding, block, head or other");
    rule.indexed = rule.kind == UnitKind::block && text::ends_with(prefix, ".");
    if (!text::ends_with(prefix, ".")) prefix += ".";
    rule.prefixes = {prefix};
    rules.push_back(rule);
  }
  if (rules.empty()) throw UsageError("the unit rules '" + spec + "' are empty");
  return rules;
}

ArchitectureDescription describe_architecture(const std::optional<json>& config, const std::string& config_file,
                                              const std::vector<std::string>& names,
                                              const std::optional<std::string>& unit_rules_override) {
  ArchitectureDescription d;
  bool known = false;
  const json empty = json::object();
  const Config cfg{config ? *config : empty, config_file};
  for (const auto& name : class_names(config)) {
    if (is_decoder_lm(name)) d = decoder_lm(name, cfg), known = true;
    else if (name == "Qwen2_5_VLForConditionalGeneration") d = qwen25_vl(cfg), known = true;
    else if (name == "QwenImageTransformer2DModel") d = qwen_image_transformer(cfg), known = true;
    else if (name == "AutoencoderKLQwenImage") d = qwen_image_vae(cfg), known = true;
    if (known) break;
  }
  if (!known) d = generic(names);
  if (unit_rules_override) {
    d.rules = parse_unit_rules(*unit_rules_override);
    d.name += " (refined by unit rules)";
  }
  return d;
}

}  // namespace vramguard
