#pragma once
// Qwen2 / Qwen2.5 decoders (transformers' Qwen2ForCausalLM): tensors and config.json from a config.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "layout_builder.hpp"
#include "qwen2/qwen2_config.hpp"

namespace vramguard {

// The decoder layers under `prefix` ("model.layers.").
void qwen2_layers(SynthBuilder& b, const std::string& prefix, const Qwen2Config& c);
nlohmann::ordered_json qwen2_json(const Qwen2Config& c, const std::string& architecture);
// A whole Qwen2ForCausalLM: embedding, layers, norm, head (none when tied).
SynthComponent qwen2_component(const Qwen2Config& c);

}  // namespace vramguard
