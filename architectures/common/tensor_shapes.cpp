#include "common/tensor_shapes.hpp"

#include <algorithm>
#include <cstdint>
#include <unordered_map>
#include <unordered_set>

#include "core/errors.hpp"

namespace vramguard::runtime {
namespace {

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string out = "[";
  for (std::size_t d = 0; d < shape.size(); ++d) out += (d ? ", " : "") + std::to_string(shape[d]);
  return out + "]";
}

}  // namespace

void check_tensor_shapes(const ComponentDescription& component, const std::vector<SynthTensor>& expected,
                         const std::string& config_keys) {
  const std::string file = component.config_file.empty() ? component.name : component.config_file;
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
      fp8_rows[tensor.name.substr(0, tensor.name.size() - 7) + ".scale_weight"] = tensor.shape[0];
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

std::int64_t largest_fp8_weight_elements(const ComponentDescription& component) {
  std::int64_t largest = 0;
  for (const auto& unit : component.units)
    for (const auto& tensor : unit.tensors)
      if (tensor.dtype.rfind("F8_", 0) == 0 && tensor.shape.size() == 2)
        largest = std::max(largest, tensor.shape[0] * tensor.shape[1]);
  return largest;
}

}  // namespace vramguard::runtime
