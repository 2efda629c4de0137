#include "model/model_inspector.hpp"

#include <algorithm>
#include <charconv>
#include <map>
#include <set>

#include "core/output_file.hpp"
#include "core/text.hpp"
#include "logging/log.hpp"
#include "model/architecture.hpp"
#include "model/checkpoint_error.hpp"
#include "model/compute_dtype.hpp"
#include "model/lora_adapters.hpp"
#include "model/scaled_fp8.hpp"
#include "model/vocabulary_slices.hpp"

namespace vramguard {
namespace {

std::uint64_t bytes_in(DType dtype, std::uint64_t elements) { return elements * dtype_bits(dtype) / 8; }

struct RawTensor {
  SafetensorsEntry entry;
  std::size_t file = 0;
};

// Single-file checkpoints keep a component's names under a prefix: ComfyUI's full checkpoints under
// model.diffusion_model., its split diffusion models sometimes under diffusion_model.
constexpr std::string_view kSingleFilePrefixes[] = {"model.diffusion_model.", "diffusion_model."};
// ComfyUI marks a scaled-fp8 file with an empty tensor of this name; it holds no weight.
constexpr std::string_view kScaledFp8Marker = "scaled_fp8";

// The prefix a given file's names carry ("" for diffusers' own names).
std::string_view single_file_prefix(const SafetensorsHeader& header) {
  for (const auto prefix : kSingleFilePrefixes)
    if (std::any_of(header.tensors.begin(), header.tensors.end(),
                    [&](const SafetensorsEntry& e) { return text::starts_with(e.name, prefix); }))
      return prefix;
  return {};
}

// Reads every weight file's header and checks the shards against each other and the index.
std::map<std::string, RawTensor> read_tensors(InspectedComponent& component) {
  std::map<std::string, RawTensor> tensors;
  const auto& files = component.source.weight_files;
  for (std::size_t f = 0; f < files.size(); ++f) {
    component.headers.push_back(read_safetensors_header(files[f].string()));
    // A file the user gave for a component (--component NAME=FILE): its names without the single-file
    // prefix, and nothing of the other parts such a file may also hold (ComfyUI's text encoders, VAE).
    const std::string_view prefix =
        component.source.weights_file_given ? single_file_prefix(component.headers.back()) : std::string_view();
    std::size_t skipped = 0;
    for (auto entry : component.headers.back().tensors) {
      if (component.source.weights_file_given) {
        if (!text::starts_with(entry.name, prefix) || (entry.name == kScaledFp8Marker && entry.elements == 0)) {
          ++skipped;
          continue;
        }
        entry.name.erase(0, prefix.size());
      }
      const auto [it, inserted] = tensors.emplace(entry.name, RawTensor{entry, f});
      if (!inserted)
        throw CheckpointError(files[f].string(),
                              "also stored in " + files[it->second.file].string() + "; a tensor belongs in one shard",
                              entry.name);
      component.locations.emplace(entry.name,
                                  TensorLocation{f, component.headers.back().data_offset + entry.begin, entry.bytes()});
    }
    if (skipped)
      log::info(files[f].string(), ": ", component.source.name, "'s weights are its tensors",
                prefix.empty() ? std::string() : " under '" + std::string(prefix) + "'", "; ", skipped,
                " other entries left aside");
    if (component.source.weights_file_given && tensors.empty())
      throw InputError("--component " + component.source.name + "=" + files[f].string(),
                       "holds no tensors for the component", "give the file of the component's own weights");
  }
  if (component.source.index_file) {
    const std::string index_path = component.source.index_file->string();
    const auto& map = component.source.index_weight_map;
    for (const auto& [name, shard_name] : map) {
      const auto it = tensors.find(name);
      if (it == tensors.end())
        throw CheckpointError(index_path,
                              "the index places it in " + shard_name + ", but that shard does not contain it", name);
      if (files[it->second.file].filename() != shard_name)
        throw CheckpointError(index_path,
                              "the index places it in " + shard_name + ", but it is stored in " +
                                  files[it->second.file].filename().string(),
                              name);
    }
    for (const auto& [name, raw] : tensors)
      if (!map.count(name))
        throw CheckpointError(files[raw.file].string(),
                              "stored in this shard but not listed in the index " + index_path, name);
  }
  return tensors;
}

// Which rule a tensor belongs to, and the unit name it makes; nullopt when no rule matches.
std::optional<std::pair<std::size_t, std::string>> match_rule(const std::vector<UnitRule>& rules,
                                                              const std::string& name) {
  std::optional<std::pair<std::size_t, std::string>> best;
  std::size_t best_length = 0;
  for (std::size_t r = 0; r < rules.size(); ++r) {
    for (const auto& prefix : rules[r].prefixes) {
      if (!text::starts_with(name, prefix) || prefix.size() <= best_length) continue;
      if (rules[r].indexed) {
        const auto dot = name.find('.', prefix.size());
        const std::string index =
            name.substr(prefix.size(), dot == std::string::npos ? std::string::npos : dot - prefix.size());
        if (index.empty() || !std::all_of(index.begin(), index.end(), ::isdigit) || dot == std::string::npos) continue;
        best = {r, prefix + index};
      } else {
        best = {r, prefix.substr(0, prefix.size() - 1)};
      }
      best_length = prefix.size();
    }
  }
  return best;
}

std::uint64_t unit_index(const std::string& unit_name) {
  const auto dot = unit_name.rfind('.');
  std::uint64_t value = 0;
  if (dot != std::string::npos) std::from_chars(unit_name.data() + dot + 1, unit_name.data() + unit_name.size(), value);
  return value;
}

Component build_component(InspectedComponent& inspected, const InspectOptions& options) {
  const auto tensors = read_tensors(inspected);
  std::vector<std::string> names;
  for (const auto& [name, raw] : tensors) names.push_back(name);
  const ArchitectureDescription description = describe_architecture(
      inspected.source.config, (inspected.source.directory / "config.json").string(), names, options.unit_rules);

  Component component;
  component.name = inspected.source.name;
  component.architecture = description.name;
  component.default_tokens = description.default_tokens;
  inspected.token_share = description.token_share ? description.token_share : [](const std::string&) { return 1.0; };

  // Group tensors into units: rule order, then index order; tensors no rule claims go last, by module.
  struct Slot {
    std::size_t rule;
    std::uint64_t index;
    Unit unit;
  };
  std::map<std::string, Slot> slots;
  // The generic estimate of activations needs the model's width: the most common dimension of its
  // matrices (1-D tensors such as biases, norms or a flattened buffer say nothing about it).
  std::map<std::int64_t, std::uint64_t> matrix_dimensions;
  for (const auto& [name, raw] : tensors) {
    const auto matched = match_rule(description.rules, name);
    std::string unit_name;
    std::size_t rule = description.rules.size();
    UnitKind kind = UnitKind::other;
    if (matched) {
      rule = matched->first;
      unit_name = matched->second;
      kind = description.rules[rule].kind;
    } else {
      const auto dot = name.rfind('.');
      unit_name = dot == std::string::npos ? name : name.substr(0, dot);
    }
    auto& slot = slots[unit_name];
    if (slot.unit.name.empty()) {
      slot.rule = rule;
      slot.index = description.rules.size() > rule && description.rules[rule].indexed ? unit_index(unit_name) : 0;
      slot.unit.name = unit_name;
      slot.unit.kind = kind;
    }
    TensorInfo info;
    info.name = name;
    info.dtype = raw.entry.dtype;
    info.shape = raw.entry.shape;
    info.elements = raw.entry.elements;
    info.stored_bytes = raw.entry.bytes();
    info.bytes = bytes_in(placed_dtype(info.dtype, options.target_dtype), info.elements);
    if (info.shape.size() == 2)
      for (auto d : info.shape) ++matrix_dimensions[d];
    slot.unit.tensors.push_back(std::move(info));
  }

  // Weight tying: the head uses the embedding's weight. Count it once and keep the two units together.
  if (description.tied && tensors.count(description.tied_embedding_tensor)) {
    const std::string& group = description.tied_embedding_tensor;
    const auto head_unit = match_rule(description.rules, description.tied_head_tensor);
    const auto embed_unit = match_rule(description.rules, description.tied_embedding_tensor);
    if (head_unit && embed_unit) {
      auto& head = slots[head_unit->second];
      if (head.unit.name.empty()) {
        head.rule = head_unit->first;
        head.index = 0;
        head.unit.name = head_unit->second;
        head.unit.kind = description.rules[head_unit->first].kind;
      }
      const auto& embedding = tensors.at(description.tied_embedding_tensor).entry;
      auto it = std::find_if(head.unit.tensors.begin(), head.unit.tensors.end(),
                             [&](const TensorInfo& t) { return t.name == description.tied_head_tensor; });
      if (it == head.unit.tensors.end()) {
        TensorInfo tied;
        tied.name = description.tied_head_tensor;
        tied.dtype = embedding.dtype;
        tied.shape = embedding.shape;
        tied.elements = embedding.elements;
        head.unit.tensors.push_back(tied);
        it = std::prev(head.unit.tensors.end());
      }
      it->tied_to = description.tied_embedding_tensor;
      it->bytes = bytes_in(placed_dtype(it->dtype, options.target_dtype), it->elements);
      head.unit.tie_group = group;
      slots[embed_unit->second].unit.tie_group = group;
    }
  }

  std::vector<Slot*> ordered;
  for (auto& [name, slot] : slots) ordered.push_back(&slot);
  std::stable_sort(ordered.begin(), ordered.end(), [](const Slot* a, const Slot* b) {
    if (a->rule != b->rule) return a->rule < b->rule;
    if (a->index != b->index) return a->index < b->index;
    return a->unit.name < b->unit.name;
  });
  for (Slot* slot : ordered) {
    Unit& unit = slot->unit;
    for (const auto& tensor : unit.tensors) {
      if (tensor.tied_to.empty()) unit.bytes += tensor.bytes, unit.parameters += tensor.elements;
      if (!multiplies_tokens(unit, tensor)) continue;
      const double flops = 2.0 * static_cast<double>(tensor.elements) * inspected.token_share(tensor.name);
      unit.flops_per_token += flops;
      if (tensor.dtype == DType::F8_E4M3) unit.fp8_flops_per_token += flops;  // an fp8 checkpoint's
    }
    if (unit.kind == UnitKind::block && slot->rule < description.rules.size() && description.rules[slot->rule].indexed)
      unit.sequence_flops_per_token = description.attention_flops_per_token_pair;
    component.units.push_back(std::move(unit));
  }
  slice_vocabulary_units(component, options.vocabulary_slice_bytes);

  // Activation bytes per token and the blocks' element-wise traffic, at the dtype the pass computes in.
  const double element_bytes = dtype_bits(component_compute_dtype(component, options.target_dtype)) / 8.0;
  if (description.elementwise_bytes_per_token) {
    const double bytes = description.elementwise_bytes_per_token(element_bytes, false);
    const double fp8_bytes = description.elementwise_bytes_per_token(element_bytes, true);
    for (auto& unit : component.units)
      if (unit.sequence_flops_per_token > 0) {  // the family's blocks (their attention counted above)
        unit.elementwise_bytes_per_token = bytes;
        unit.fp8_elementwise_bytes_per_token = fp8_bytes;
      }
  }
  std::int64_t width = 0;
  std::uint64_t width_count = 0;
  for (const auto& [dimension, count] : matrix_dimensions)
    if (count > width_count || (count == width_count && dimension < width)) width = dimension, width_count = count;
  component.activation_bytes_per_token = description.activation_bytes_per_token
                                             ? description.activation_bytes_per_token(element_bytes)
                                             : 8.0 * static_cast<double>(width) * element_bytes;
  return component;
}

}  // namespace

TensorLocation location_of(const InspectedComponent& component, const TensorInfo& tensor) {
  TensorLocation at = component.locations.at(tensor.name);
  if (tensor.first_row == 0 && at.bytes == tensor.stored_bytes) return at;
  const auto row_bytes =
      tensor.stored_bytes / static_cast<std::uint64_t>(std::max<std::int64_t>(1, tensor.shape.at(0)));
  at.offset += static_cast<std::uint64_t>(tensor.first_row) * row_bytes;
  at.bytes = tensor.stored_bytes;
  return at;
}

InspectedModel inspect_model(const std::string& argument, const Environment& environment,
                             const InspectOptions& options) {
  InspectedModel model;
  model.source = resolve_model_source(argument, environment, options.component_files);
  // No output of this process may overwrite a file the model is read from.
  protect_from_outputs(model.source.root / "model_index.json");
  for (const auto& component : model.source.components) {
    for (const auto& file : component.weight_files) protect_from_outputs(file);
    if (component.index_file) protect_from_outputs(*component.index_file);
    protect_from_outputs(component.directory / "config.json");
  }
  model.graph.source = argument;
  model.graph.target_dtype = options.target_dtype;
  for (const auto& wanted : options.components)
    if (std::none_of(model.source.components.begin(), model.source.components.end(),
                     [&](const ComponentSource& c) { return c.name == wanted; })) {
      std::string names;
      for (const auto& c : model.source.components) names += (names.empty() ? "" : ", ") + c.name;
      throw InputError(argument, "has no component '" + wanted + "'", "its components: " + names);
    }
  for (const auto& component_source : model.source.components) {
    if (!options.components.empty() && std::find(options.components.begin(), options.components.end(),
                                                 component_source.name) == options.components.end())
      continue;
    InspectedComponent inspected;
    inspected.source = component_source;
    model.graph.components.push_back(build_component(inspected, options));
    model.components.push_back(std::move(inspected));
    log::debug("component '", component_source.name, "': ", model.graph.components.back().units.size(), " units, ",
               model.graph.components.back().architecture);
  }
  quantize_weights(model, options.quantize);
  check_fp8_scales(model);
  if (!options.loras.empty()) attach_loras(model, options.loras, options.target_dtype);
  return model;
}

}  // namespace vramguard
