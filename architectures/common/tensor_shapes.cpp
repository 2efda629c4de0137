#include "common/tensor_shapes.hpp"

#include <algorithm>
#include <cstdint>
#include <unordered_map>
#include <unordered_set>

#include "common/component_config.hpp"
#include "core/errors.hpp"
#include "model/scaled_fp8.hpp"

namespace vramguard::runtime {
namespace {

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string out = "[";
  for (std::size_t d = 0; d < shape.size(); ++d) out += (d ? ", " : "") + std::to_string(shape[d]);
  return out + "]";
}

// The first few names of a sorted list, for a message.
template <class Names>
std::string first_names(const Names& names) {
  constexpr std::size_t kShown = 3;
  std::vector<std::string> sorted(names.begin(), names.end());
  std::sort(sorted.begin(), sorted.end());
  std::string out;
  for (std::size_t i = 0; i < std::min(kShown, sorted.size()); ++i) out += (i ? ", " : "") + sorted[i];
  return out + (sorted.size() > kShown ? " …" : "");
}

// What a message names for the component's weights: its one file, or the component.
std::string weights_source(const ComponentDescription& component) {
  return component.weight_files.size() == 1 ? component.weight_files.front() : component.name;
}

std::string own_weights_hint(const ComponentDescription& component) {
  return "give " + component.name +
         "'s own weights, named as its folder's are (bare, or under ComfyUI's model.diffusion_model.)";
}

// Weights of another model altogether (most of what the config describes is missing, and most of what the
// checkpoint holds is not described: not merely fewer layers): say what the checkpoint holds beside what
// the config wants, so that a file for another model reads as such.
void refuse_another_models_weights(const ComponentDescription& component,
                                   const std::unordered_map<std::string, std::vector<std::int64_t>>& held,
                                   const std::vector<SynthTensor>& expected) {
  std::size_t found = 0;
  std::vector<std::string> wanted;
  for (const auto& tensor : expected) {
    wanted.push_back(tensor.name);
    found += held.count(tensor.name);
  }
  if (2 * found >= expected.size() || 2 * found >= held.size()) return;
  std::vector<std::string> names;
  for (const auto& [name, shape] : held) names.push_back(name);
  throw InputError(weights_source(component),
                   "holds the weights of another model: " + std::to_string(found) + " of the " +
                       std::to_string(expected.size()) + " tensors " + component.name + "'s config describes; it " +
                       "holds " + first_names(names) + " where the config describes " + first_names(wanted),
                   own_weights_hint(component));
}

}  // namespace

void check_tensor_shapes(const ComponentDescription& component, const std::vector<SynthTensor>& expected,
                         const std::string& config_keys) {
  const std::string file = config_file_of(component);
  const std::string hint = "the config and the weights are of different models, or one of them was altered";
  // The checkpoint's tensors with their whole shapes (a row-sliced tensor's rows added back up).
  std::unordered_map<std::string, std::vector<std::int64_t>> held;
  // A LoRA's matrices are no tensors of the config's: --lora checked them against the weights they adapt.
  std::unordered_set<std::string> adapters;
  for (const auto& adapter : component.adapters) adapters.insert({adapter.down, adapter.up});
  // Scaled fp8 (ComfyUI's): a Linear weight stored in fp8 may have `<module>.scale_weight`, one value or
  // one per row; fp8 elsewhere is refused (vramguard dequantizes fp8 where a Linear uses it).
  std::unordered_map<std::string, std::int64_t> fp8_rows;
  for (const auto& unit : component.units)
    for (const auto& tensor : unit.tensors) {
      if (tensor.dtype.rfind("F8_", 0) != 0) continue;
      const bool linear_weight = tensor.shape.size() == 2 && tensor.name.size() > 7 &&
                                 tensor.name.compare(tensor.name.size() - 7, 7, ".weight") == 0;
      if (!linear_weight)
        throw InputError(file,
                         "its checkpoint stores " + tensor.name + " " + shape_text(tensor.shape) + " in " +
                             tensor.dtype + ": vramguard computes with fp8 Linear weights (2-D .weight) only",
                         "store that tensor in bf16, fp16 or fp32");
      fp8_rows[fp8_scale_name(tensor.name.substr(0, tensor.name.size() - 7))] = tensor.shape[0];
    }
  for (const auto& unit : component.units)
    for (const auto& tensor : unit.tensors) {
      if (adapters.count(tensor.name)) continue;
      if (const auto rows = fp8_rows.find(tensor.name); rows != fp8_rows.end()) {
        const auto& s = tensor.shape;
        const bool one = s.empty() || (s.size() == 1 && s[0] == 1);
        const bool per_row =
            (s.size() == 1 && s[0] == rows->second) || (s.size() == 2 && s[0] == rows->second && s[1] == 1);
        if (!one && !per_row)
          throw InputError(file,
                           "its checkpoint's " + tensor.name + " is " + shape_text(s) + ": a scale is one value or " +
                               "one per row (" + std::to_string(rows->second) + ")",
                           hint);
        continue;
      }
      auto [it, added] = held.emplace(tensor.name, tensor.shape);
      if (!unit.slice_of.empty() && !tensor.shape.empty())
        it->second[0] = std::max(added ? 0 : it->second[0], tensor.first_row + tensor.shape[0]);
    }
  refuse_another_models_weights(component, held, expected);
  std::unordered_set<std::string> described;
  for (const auto& tensor : expected) {
    described.insert(tensor.name);
    const auto it = held.find(tensor.name);
    if (it == held.end())
      throw InputError(file,
                       "describes a tensor " + tensor.name + " " + shape_text(tensor.shape) + " (from " + config_keys +
                           ") that the checkpoint does not hold",
                       hint);
    if (it->second != tensor.shape)
      throw InputError(file,
                       "makes tensor " + tensor.name + " " + shape_text(tensor.shape) + " (from " + config_keys +
                           "), but the checkpoint holds it as " + shape_text(it->second),
                       hint);
  }
  for (const auto& [name, shape] : held)
    if (!described.count(name))
      throw InputError(
          file,
          "does not describe the checkpoint's tensor " + name + " " + shape_text(shape) + " (from " + config_keys + ")",
          hint);
}

void refuse_checkpoint_without_blocks(const ComponentDescription& component, const std::string& first_block_tensor) {
  std::vector<std::string> names;
  for (const auto& unit : component.units)
    for (const auto& tensor : unit.tensors) names.push_back(tensor.name);
  throw InputError(weights_source(component),
                   "holds the weights of another model: none of the blocks " + component.name +
                       "'s config describes (no " + first_block_tensor + "); it holds " + first_names(names),
                   own_weights_hint(component));
}

std::int64_t largest_fp8_weight_elements(const ComponentDescription& component,
                                         const std::set<std::string>& fp8_matmuls) {
  std::int64_t largest = 0;
  for (const auto& unit : component.units)
    for (const auto& tensor : unit.tensors)
      if (tensor.dtype.rfind("F8_", 0) == 0 && tensor.shape.size() == 2 && !fp8_matmuls.count(tensor.name))
        largest = std::max(largest, tensor.shape[0] * tensor.shape[1]);
  return largest;
}

}  // namespace vramguard::runtime
