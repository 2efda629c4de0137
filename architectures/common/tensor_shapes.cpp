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
  for (const auto& unit : component.units)
    for (const auto& tensor : unit.tensors) {
      if (adapters.count(tensor.name)) continue;
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

}  // namespace vramguard::runtime
