#include "model/lora_adapters.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>

#include <nlohmann/json.hpp>

#include "core/errors.hpp"
#include "core/output_file.hpp"
#include "core/tensor_read.hpp"
#include "core/text.hpp"
#include "logging/log.hpp"

namespace vramguard {
namespace {

const char* const kAnotherModel = "pass a LoRA made for this model (its keys name the model's Linear layers)";

// What a key of a LoRA file is, once its naming is undone.
enum class Role : std::uint8_t { down, up, alpha };
struct LoraKey {
  std::string module;  // as the file names it, prefixes removed ("transformer_blocks.0.attn.to_q")
  Role role = Role::down;
  bool kohya_names = false;  // down/up naming (lora_down, lora_up): alpha / rank applies
};

// A key's module (as the file names it, prefixes kept) and the role its suffix gives; nullopt for a key
// that is no LoRA matrix.
std::optional<LoraKey> parse_key(std::string key) {
  // PEFT's default adapter name, where a file kept it.
  for (std::string::size_type at; (at = key.find(".default.")) != std::string::npos;) key.erase(at, 8);
  const std::pair<const char*, std::pair<Role, bool>> suffixes[] = {{".lora_A.weight", {Role::down, false}},
                                                                    {".lora_B.weight", {Role::up, false}},
                                                                    {".lora_down.weight", {Role::down, true}},
                                                                    {".lora_up.weight", {Role::up, true}},
                                                                    {".alpha", {Role::alpha, true}}};
  for (const auto& [suffix, role] : suffixes)
    if (text::ends_with(key, suffix))
      return LoraKey{key.substr(0, key.size() - std::strlen(suffix)), role.first, role.second};
  return std::nullopt;
}

// The model's Linear a LoRA's module names: as it is, or under the prefix its naming adds (diffusers'
// "transformer.", ComfyUI's "diffusion_model.", PEFT's "base_model.model."), or kohya's flattened
// "lora_unet_<module with '_' for '.'>". nullopt when none is a Linear of the component.
template <class Linears, class Flattened>
std::optional<std::string> linear_named(const std::string& module, const std::string& component, const Linears& linears,
                                        const Flattened& flattened, const std::string& file) {
  std::vector<std::string> candidates = {module};
  for (const std::string& prefix :
       {component + ".", std::string("transformer."), std::string("unet."), std::string("model.diffusion_model."),
        std::string("diffusion_model."), std::string("base_model.model.")})
    if (text::starts_with(module, prefix)) candidates.push_back(module.substr(prefix.size()));
  for (const auto& candidate : candidates) {
    if (linears.count(candidate)) return candidate;
    if (!text::starts_with(candidate, "lora_unet_")) continue;
    const auto it = flattened.find(candidate.substr(10));
    if (it == flattened.end()) continue;
    if (it->second.size() > 1)
      throw InputError(file, "names '" + module + "', which could be any of " + text::join(it->second, ", "),
                       "use the LoRA in diffusers' naming");
    return it->second.front();
  }
  return std::nullopt;
}

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string out = "[";
  for (std::size_t d = 0; d < shape.size(); ++d) out += (d ? ", " : "") + std::to_string(shape[d]);
  return out + "]";
}

// One tensor of the LoRA file as float32 values (LoRA files are small: a rank-64 LoRA of every
// projection of a 20B transformer is under a gigabyte).
std::vector<float> values_of(const std::string& file, const SafetensorsHeader& header, const SafetensorsEntry& entry) {
  return read_floats(file, header.data_offset + entry.begin, entry.elements, entry.dtype);
}

// The scale of each module as PEFT sets it from diffusers' metadata: lora_alpha / r, each overridden by
// alpha_pattern and rank_pattern where a key names the module (or ends it after a '.'), alpha / √r
// under rsLoRA.
struct PeftConfig {
  double r = 0, alpha = 0;
  bool rslora = false;
  std::map<std::string, double> rank_pattern, alpha_pattern;
};

std::optional<PeftConfig> peft_config(const SafetensorsHeader& header, const std::string& component,
                                      const std::string& file) {
  const auto it = header.metadata.find("lora_adapter_metadata");
  if (it == header.metadata.end()) return std::nullopt;
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(it->second);
  } catch (const nlohmann::json::exception& e) {
    throw InputError(file, std::string("its lora_adapter_metadata is not JSON: ") + e.what(), kAnotherModel);
  }
  auto get = [&](const std::string& key) -> const nlohmann::json* {
    // Keys under the component's name as diffusers saved it (a lone transformer's are still "transformer.").
    for (const std::string& name : {component + "." + key, "transformer." + key, "unet." + key, key})
      if (doc.is_object() && doc.contains(name) && !doc[name].is_null()) return &doc[name];
    return nullptr;
  };
  PeftConfig config;
  const auto* r = get("r");
  const auto* alpha = get("lora_alpha");
  if (!r || !alpha || !r->is_number() || !alpha->is_number() || r->get<double>() <= 0)
    throw InputError(file, "its lora_adapter_metadata has no positive r and lora_alpha",
                     "save the LoRA with diffusers' save_lora_weights, or without metadata");
  config.r = r->get<double>();
  config.alpha = alpha->get<double>();
  if (const auto* dora = get("use_dora"); dora && dora->is_boolean() && dora->get<bool>())
    throw InputError(file, "is a DoRA (use_dora), which vramguard does not apply",
                     "use a plain LoRA, or run the pipeline through the Python module with PEFT");
  if (const auto* rslora = get("use_rslora"); rslora && rslora->is_boolean()) config.rslora = rslora->get<bool>();
  for (const auto& [key, into] :
       {std::pair{"rank_pattern", &config.rank_pattern}, {"alpha_pattern", &config.alpha_pattern}})
    if (const auto* pattern = get(key); pattern && pattern->is_object())
      for (const auto& [name, value] : pattern->items())
        if (value.is_number()) (*into)[name] = value.get<double>();
  return config;
}

double pattern_value(const std::map<std::string, double>& pattern, const std::string& module, double otherwise) {
  for (const auto& [key, value] : pattern)
    if (module == key || text::ends_with(module, "." + key)) return value;
  return otherwise;
}

// Where each Linear of a component is: its weight's unit and tensor.
struct LinearSite {
  std::size_t unit = 0;
  std::string weight;  // its tensor's name
  std::vector<std::int64_t> shape;
};

}  // namespace

std::string lora_tensor_name(const std::string& module, bool up, std::size_t lora_index) {
  return module + (up ? ".lora_B.lora" : ".lora_A.lora") + std::to_string(lora_index) + ".weight";
}

void attach_loras(InspectedModel& model, const LoraFiles& loras, std::optional<DType> target_dtype) {
  for (std::size_t index = 0; index < loras.size(); ++index) {
    const std::string file = loras[index].path;
    const SafetensorsHeader header = read_safetensors_header(file);
    protect_from_outputs(file);
    // The component it adapts: the one its keys name, or the pipeline's denoiser, or the lone model.
    std::size_t target = model.graph.components.size();
    for (std::size_t c = 0; c < model.graph.components.size(); ++c) {
      const std::string& name = model.graph.components[c].name;
      const bool named = std::any_of(header.tensors.begin(), header.tensors.end(),
                                     [&](const SafetensorsEntry& e) { return text::starts_with(e.name, name + "."); });
      if (named || (target == model.graph.components.size() && (name == "transformer" || name == "unet"))) target = c;
    }
    if (target == model.graph.components.size()) {
      if (model.graph.components.size() != 1)
        throw InputError(file, "adapts none of the model's components", kAnotherModel);
      target = 0;
    }
    Component& component = model.graph.components[target];
    InspectedComponent& inspected = model.components[target];

    // The component's Linears by name, and by kohya's flattened name ('.' as '_').
    std::map<std::string, LinearSite> linears;
    std::map<std::string, std::vector<std::string>> flattened;
    for (std::size_t u = 0; u < component.units.size(); ++u)
      for (const auto& tensor : component.units[u].tensors) {
        if (tensor.shape.size() != 2 || !text::ends_with(tensor.name, ".weight") || !tensor.tied_to.empty()) continue;
        if (text::ends_with(tensor.name, "embed_tokens.weight")) continue;  // an embedding, not a Linear
        const std::string module = tensor.name.substr(0, tensor.name.size() - 7);
        if (linears.count(module)) continue;  // a row-sliced head: refused below by its slice
        linears[module] = {u, tensor.name, tensor.shape};
        std::string flat = module;
        std::replace(flat.begin(), flat.end(), '.', '_');
        flattened[flat].push_back(module);
      }
    // Examples of the component's Linear names, from its first block (the layers a LoRA adapts).
    auto model_layers = [&] {
      std::vector<std::string> names;
      for (const auto& unit : component.units) {
        if (unit.kind != UnitKind::block) continue;
        for (const auto& tensor : unit.tensors) {
          const std::string module = tensor.name.substr(0, tensor.name.size() - 7);
          if (names.size() < 3 && text::ends_with(tensor.name, ".weight") && linears.count(module))
            names.push_back(module);
        }
        break;
      }
      for (const auto& [module, site] : linears)
        if (names.size() < 3 && std::find(names.begin(), names.end(), module) == names.end()) names.push_back(module);
      return text::join(names, ", ");
    };

    // Every key read as (module, role), each module's matrices and alpha found.
    struct Pair {
      const SafetensorsEntry* down = nullptr;
      const SafetensorsEntry* up = nullptr;
      const SafetensorsEntry* alpha = nullptr;
      bool kohya_names = false;
    };
    std::map<std::string, Pair> pairs;
    std::vector<std::string> unmatched;
    for (const auto& entry : header.tensors) {
      const auto key = parse_key(entry.name);
      if (!key)
        throw InputError(file, "holds '" + entry.name + "', which is not a LoRA matrix vramguard applies",
                         "vramguard reads lora_A/lora_B, lora_down/lora_up and alpha (DoRA, LoKr, LoHa and "
                         "biases are not supported)");
      const auto linear = linear_named(key->module, component.name, linears, flattened, file);
      if (!linear) {
        unmatched.push_back(entry.name);
        continue;
      }
      const std::string& module = *linear;
      Pair& pair = pairs[module];
      const SafetensorsEntry** slot = key->role == Role::down ? &pair.down
                                      : key->role == Role::up ? &pair.up
                                                              : &pair.alpha;
      if (*slot) throw InputError(file, "holds two tensors for '" + entry.name + "'", kAnotherModel);
      *slot = &entry;
      if (key->role != Role::alpha) pair.kohya_names = key->kohya_names;
    }
    if (pairs.empty()) {
      std::vector<std::string> first(header.tensors.size() < 3 ? header.tensors.size() : 3);
      for (std::size_t i = 0; i < first.size(); ++i) first[i] = header.tensors[i].name;
      throw InputError(file,
                       "is a LoRA for another model: its keys (" + text::join(first, ", ") +
                           (header.tensors.size() > 3 ? ", ..." : "") + ") name none of the Linear layers of " +
                           component.name + " (" + model_layers() + ", ...)",
                       kAnotherModel);
    }
    if (!unmatched.empty())
      throw InputError(file,
                       "holds '" + unmatched.front() + "', which names no Linear layer of " + component.name + " (" +
                           model_layers() + ", ...)",
                       kAnotherModel);

    const auto peft = peft_config(header, component.name, file);
    bool ignored_alpha = false;
    const std::size_t file_index = inspected.source.weight_files.size();
    inspected.source.weight_files.push_back(file);
    inspected.headers.push_back(header);
    const SafetensorsHeader& held = inspected.headers.back();
    for (const auto& [module, pair] : pairs) {
      const LinearSite& site = linears.at(module);
      Unit& unit = component.units[site.unit];
      const std::vector<std::int64_t>& weight_shape = site.shape;
      if (!pair.down || !pair.up)
        throw InputError(file,
                         "has " + std::string(pair.down ? "a down (A)" : "an up (B)") + " matrix for " + module +
                             " but not its " + (pair.down ? "up (B)" : "down (A)"),
                         "the file is incomplete; export the LoRA again");
      if (!unit.slice_of.empty())
        throw InputError(file, "adapts " + module + ", which vramguard splits into row slices", kAnotherModel);
      for (const auto* entry : {pair.down, pair.up, pair.alpha})
        if (entry && !dtype_is_floating(entry->dtype))
          throw InputError(
              file,
              "holds '" + entry->name + "' in " + std::string(dtype_name(entry->dtype)) + ", not a floating dtype",
              kAnotherModel);
      const std::int64_t rank = pair.down->shape.empty() ? 0 : pair.down->shape[0];
      const std::vector<std::int64_t> down_shape = {rank, weight_shape[1]}, up_shape = {weight_shape[0], rank};
      for (const auto& [entry, expected] : {std::pair{pair.down, down_shape}, {pair.up, up_shape}})
        if (rank < 1 || entry->shape != expected)
          throw InputError(file,
                           "holds '" + entry->name + "' as " + shape_text(entry->shape) + ", but " + module +
                               ".weight is " + shape_text(weight_shape) + ": it needs " + shape_text(expected),
                           kAnotherModel);
      for (const auto* entry : {pair.down, pair.up, pair.alpha})
        if (entry)
          for (const float v : values_of(file, held, *entry))
            if (!std::isfinite(v))
              throw InputError(file,
                               "holds '" + entry->name + "' with " + (std::isnan(v) ? "NaN" : "infinite") + " values",
                               "the LoRA is damaged (or diverged in training); use another");
      // The file's own scale, as diffusers' loader makes it of this naming.
      double scale = 1;
      if (pair.kohya_names) {
        const double alpha = pair.alpha ? values_of(file, held, *pair.alpha).at(0) : static_cast<double>(rank);
        scale = alpha / static_cast<double>(rank);
      } else if (peft) {
        const double r = pattern_value(peft->rank_pattern, module, peft->r);
        const double alpha = pattern_value(peft->alpha_pattern, module, peft->alpha);
        if (static_cast<std::int64_t>(r) != rank)
          throw InputError(file,
                           "says rank " + std::to_string(static_cast<std::int64_t>(r)) + " for " + module +
                               " in its metadata, but its matrices have rank " + std::to_string(rank),
                           kAnotherModel);
        scale = peft->rslora ? alpha / std::sqrt(r) : alpha / r;
      } else if (pair.alpha) {
        ignored_alpha = true;
      }
      LoraAdapter adapter{site.weight,
                          lora_tensor_name(module, false, index),
                          lora_tensor_name(module, true, index),
                          rank,
                          scale * loras[index].scale,
                          file,
                          scale};
      for (const auto& [entry, name] : {std::pair{pair.down, adapter.down}, {pair.up, adapter.up}}) {
        TensorInfo info;
        info.name = name;
        info.dtype = entry->dtype;
        info.shape = entry->shape;
        info.elements = entry->elements;
        info.stored_bytes = entry->bytes();
        info.bytes = info.elements * dtype_bits(placed_dtype(info.dtype, target_dtype)) / 8;
        unit.bytes += info.bytes;
        unit.parameters += info.elements;
        unit.flops_per_token += 2.0 * static_cast<double>(info.elements);
        inspected.locations[name] = {file_index, held.data_offset + entry->begin, entry->bytes()};
        unit.tensors.push_back(std::move(info));
      }
      inspected.adapters.push_back(std::move(adapter));
    }
    if (ignored_alpha)
      log::info(file,
                ": its .alpha values are not used: for lora_A/lora_B names diffusers' loader ignores them "
                "(scale 1 before --lora's)");
    log::info("LoRA ", file, ": ", pairs.size(), " Linear layers of ", component.name, " adapted, scale ",
              loras[index].scale);
  }
}

}  // namespace vramguard
