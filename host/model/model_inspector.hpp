#pragma once
// inspect: a model folder → ModelGraph (components → ordered units → tensors) plus where each
// tensor's bytes are, from safetensors headers alone.
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/environment.hpp"
#include "model/model_source.hpp"
#include "model/quantized_weights.hpp"
#include "model/safetensors_header.hpp"
#include "vramguard/model_graph.hpp"
#include "vramguard/option_values.hpp"

namespace vramguard {

struct TensorLocation {
  std::size_t file = 0;      // index into InspectedComponent::source.weight_files
  std::uint64_t offset = 0;  // absolute, in the file
  std::uint64_t bytes = 0;
};

// One Linear adapted by a LoRA (model/lora_adapters.hpp): its output gains x·downᵀ·upᵀ·scale. Its two
// matrices are tensors of the unit that holds `weight`.
struct LoraAdapter {
  std::string weight;    // "transformer_blocks.0.attn.to_q.weight"
  std::string down, up;  // the matrices' tensor names: A [rank, in] and B [out, rank]
  std::int64_t rank = 0;
  double scale = 1;       // the file's own (as diffusers reads it) times the user's
  std::string file;       // the LoRA it came from, as given (--lora)
  double file_scale = 1;  // the file's own alone: a job may set the user's part anew (PipelineJob::lora_scales)
};

// A weight quantized as it loads (--weight-dtype): the graph holds it as F8_E4M3 (one byte an element,
// `scale` beside it in the unit); the checkpoint as `source_dtype` at its location.
struct QuantizedWeight {
  DType source_dtype = DType::BF16;
  std::string scale;      // the scale tensor's name: "<module>.scale_weight"
  std::int64_t rows = 0;  // the weight's
  bool per_row = false;   // one scale a row, else one
};

struct InspectedComponent {
  ComponentSource source;
  std::vector<SafetensorsHeader> headers;  // one per weight file (then one per LoRA file adapting it)
  std::unordered_map<std::string, TensorLocation> locations;
  std::vector<LoraAdapter> adapters;
  std::map<std::string, QuantizedWeight> quantized;     // by the weight's name (model/quantized_weights.hpp)
  std::map<std::string, std::string> quantized_scales;  // their scales: scale name → weight name
  // The share of a pass's tokens a 2-D weight multiplies, by its name (the family's
  // ArchitectureDescription::token_share; 1 where it says nothing): what quantizing it moves into fp8.
  std::function<double(const std::string& tensor)> token_share;
};

// Where a tensor's bytes are; for a row slice (TensorInfo::first_row), where the slice's rows are.
TensorLocation location_of(const InspectedComponent& component, const TensorInfo& tensor);

struct InspectedModel {
  ModelSource source;
  ModelGraph graph;
  std::vector<InspectedComponent> components;  // parallel to graph.components
  std::vector<std::string> notes;              // what reading it changed, for the plan's and load's reports
};

struct InspectOptions {
  std::optional<DType> target_dtype;      // --dtype: floating tensors take this size
  std::optional<std::string> unit_rules;  // refines the generic description
  // Embedding and head units larger than this become row slices of at most this size (0: never);
  // unset: those over twice the largest block, into block-sized slices.
  std::optional<std::uint64_t> vocabulary_slice_bytes;
  // Only these components of a pipeline (run --component): the others are neither read nor planned,
  // so the one that runs has the devices to itself. Empty: all. InputError for a name the model lacks.
  std::vector<std::string> components;
  LoraFiles loras;  // --lora: attached to the units of the Linears they adapt (model/lora_adapters.hpp)
  // --component NAME=FILE: these components' weights from one file each (model/model_source.hpp).
  std::map<std::string, std::filesystem::path> component_files;
  // --weight-dtype COMPONENT=fp8: these components' weights quantized as they load (model/quantized_weights.hpp).
  std::map<std::string, Fp8Quantization> quantize;
};

InspectedModel inspect_model(const std::string& model_argument, const Environment& environment,
                             const InspectOptions& options);

}  // namespace vramguard
