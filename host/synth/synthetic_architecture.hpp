#pragma once
// The exact tensor names and shapes of the architectures `synth` writes, computed from their configs
// the way the model classes build them (sources: docs/synthetic-models.md).
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/component_layout.hpp"
#include "vramguard/dtype.hpp"

namespace vramguard {

struct SynthModel {
  std::string architecture;  // "qwen2", "qwen-image-edit"
  std::string preset;
  bool pipeline = false;  // a diffusers folder with model_index.json
  nlohmann::ordered_json model_index;
  std::vector<SynthComponent> components;
  // The pipeline's other files, by path in the folder: what `vramguard edit` reads besides weights
  // (the scheduler's and processor's configs, a tokenizer).
  std::map<std::string, nlohmann::ordered_json> files;
};

// Throws UsageError for an unknown architecture or preset, listing the known ones.
SynthModel synthetic_architecture(const std::string& architecture, const std::string& preset,
                                  bool legacy_text_encoder_names);
std::vector<std::string> synthetic_architectures();
std::vector<std::string> synthetic_presets(const std::string& architecture);

}  // namespace vramguard
