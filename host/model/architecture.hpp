#pragma once
// How a component's tensors group into units, in the order the forward pass uses them, with rough
// per-token compute and activation figures for the cost model. Each known family describes itself in
// its folder (architectures/<family>/<family>_spec.cpp), chosen by config.json's `architectures` /
// `_class_name`; anything else gets the generic description (indexed stacks found by pattern), which a
// `units` option can refine.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "vramguard/model_graph.hpp"

namespace vramguard {

// One rule: tensors whose name starts with one of `prefixes` form a unit of `kind`. An indexed rule
// ("model.layers.") makes one unit per index ("model.layers.7"), in numeric order.
struct UnitRule {
  std::vector<std::string> prefixes;
  UnitKind kind = UnitKind::other;
  bool indexed = false;
};

struct ArchitectureDescription {
  std::string name;             // "Qwen2ForCausalLM", or "generic"
  std::vector<UnitRule> rules;  // in forward order
  // Weight tying: the head's weight may be the embedding's (tie_word_embeddings).
  std::string tied_head_tensor;       // "lm_head.weight"
  std::string tied_embedding_tensor;  // "model.embed_tokens.weight"
  bool tied = false;
  // Activation bytes per token at an element size (the family's own formula, the one its forward code
  // sizes a call by); empty: the inspector estimates it from the widest tensor.
  std::function<double(double element_bytes)> activation_bytes_per_token;
  double attention_flops_per_token_pair = 0;  // each block's attention, per token per token of context
  // What each block's element-wise passes move per token at an element size, without and with fp8
  // matmuls (the family's own count of its GPU kernels: Unit::elementwise_bytes_per_token); empty: none
  // counted.
  std::function<double(double element_bytes, bool fp8_matmuls)> elementwise_bytes_per_token;
  // The share of a pass's tokens a unit's 2-D weight multiplies, by the tensor's name (its FLOPs per
  // token are 2 × its elements × the share); empty: every weight multiplies every token. A dual-stream
  // block's image weights see the image tokens only, its modulation one row a sample.
  std::function<double(const std::string& tensor)> token_share;
  std::uint64_t default_tokens = 0;
};

// A component's config.json and the file it came from: what a family's config reader
// (architectures/<family>/<family>_config.cpp) reads its dimensions from, naming the file in complaints.
struct ArchitectureConfig {
  const nlohmann::json& values;
  const std::string& file;
};

// A family's unit rules and cost figures (architectures/<family>/<family>_spec.cpp): the config class
// names it describes, and how.
struct UnitFamily {
  std::vector<std::string> classes;
  ArchitectureDescription (*describe)(const std::string& class_name, const ArchitectureConfig& config);
};
// Every family vramguard knows, in the order they are tried (architectures/unit_families.cpp).
const std::vector<UnitFamily>& unit_families();

// The description for a component, from its config.json (may be absent; `config_file` names it in
// messages about a value of the wrong type) and its tensor names.
ArchitectureDescription describe_architecture(const std::optional<nlohmann::json>& config,
                                              const std::string& config_file,
                                              const std::vector<std::string>& tensor_names,
                                              const std::optional<std::string>& unit_rules_override);

// "embedding:model.wte, block:model.h., head:model.ln_f, head:lm_head" → rules (a trailing '.' on a
// block prefix makes it indexed). Throws UsageError on a malformed spec.
std::vector<UnitRule> parse_unit_rules(const std::string& spec);

}  // namespace vramguard
