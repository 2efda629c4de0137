#include "guard/verify.hpp"

#include <algorithm>
#include <cstring>
#include <map>
#include <set>
#include <vector>

#include "core/tensor_read.hpp"

namespace vramguard {
namespace {

std::string where(const InspectedModel& model, const LoadedUnit& unit) {
  const Component& component = model.graph.components[unit.component];
  return component.name + "/" + component.units[unit.unit].name;
}

// The unit's own tensors lie inside its block without overlapping each other.
void check_layout(const std::string& name, const LoadedUnit& unit, const MemoryBlock& block) {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> spans;
  for (const auto& tensor : unit.tensors) {
    if (!tensor.tied_to.empty() || tensor.bytes == 0) continue;
    if (tensor.offset + tensor.bytes > block.size())
      throw VerificationError("tensor " + name + "/" + tensor.name + " lies outside its block on " +
                              block.device().str());
    spans.emplace_back(tensor.offset, tensor.offset + tensor.bytes);
  }
  std::sort(spans.begin(), spans.end());
  for (std::size_t i = 1; i < spans.size(); ++i)
    if (spans[i].first < spans[i - 1].second)
      throw VerificationError("two tensors of " + name + " overlap in its block");
}

}  // namespace

std::uint64_t verify_loaded_model(DeviceRuntime& runtime, const InspectedModel& model, const Placement& placement,
                                  const LoadedModel& loaded, bool check_data, const std::atomic<bool>* cancel) {
  if (loaded.units().size() != model.graph.unit_count())
    throw VerificationError(std::to_string(loaded.units().size()) + " units were loaded, the model has " +
                            std::to_string(model.graph.unit_count()));
  // Tensors by component and name: a vocabulary stored in row slices counts once, as inspect and synth count it.
  std::set<std::pair<std::size_t, std::string>> checked;
  std::vector<unsigned char> device_bytes, file_bytes;
  for (const LoadedUnit& unit : loaded.units()) {
    if (cancel && cancel->load()) throw Interrupted("verification was interrupted");
    const Component& component = model.graph.components.at(unit.component);
    const Unit& graph_unit = component.units.at(unit.unit);
    const std::string name = where(model, unit);
    const UnitPlacement* planned = placement.find(component.name, graph_unit.name);
    if (planned == nullptr || planned->storage != unit.placement.storage || planned->mode != unit.placement.mode ||
        planned->executes_on != unit.placement.executes_on)
      throw VerificationError("unit " + name + " is not placed as its plan says");

    // What was really allocated for it.
    const bool needs_block =
        allocated_bytes(graph_unit) > 0 && (unit.placement.mode != PlacementMode::streamed || (unit.block != nullptr));
    if (needs_block) {
      if (unit.block == nullptr)
        throw VerificationError("unit " + name + " has no block on " + unit.placement.storage.str());
      const DeviceId expected =
          unit.placement.mode == PlacementMode::resident ? unit.placement.storage : DeviceId::host();
      if (unit.block->device() != expected)
        throw VerificationError("unit " + name + "'s block is on " + unit.block->device().str() + ", its plan says " +
                                expected.str());
      if (unit.block->size() < allocated_bytes(graph_unit))
        throw VerificationError("unit " + name + "'s block holds " + std::to_string(unit.block->size()) +
                                " bytes, it needs " + std::to_string(allocated_bytes(graph_unit)));
      check_layout(name, unit, *unit.block);
    }
    if (unit.placement.mode == PlacementMode::streamed) {
      const LoadedWindow* window = loaded.window(unit.placement.executes_on);
      if (window == nullptr)
        throw VerificationError("unit " + name + " streams to " + unit.placement.executes_on.str() +
                                ", which has no window");
      if (window->slot_bytes < unit.layout_bytes ||
          static_cast<int>(window->slots.size()) != placement.prefetch_depth + 1)
        throw VerificationError("the window on " + window->gpu.str() + " cannot hold " + name);
      for (const MemoryBlock* slot : window->slots)
        if (slot->device() != window->gpu || slot->size() < window->slot_bytes)
          throw VerificationError("a window slot of " + window->gpu.str() + " is not on that GPU or is too small");
    }

    // Each tensor: the inspected shape, the placed dtype, and the bytes where asked.
    std::map<std::string, const TensorInfo*> graph_tensors;
    for (const auto& tensor : graph_unit.tensors) graph_tensors[tensor.name] = &tensor;
    if (graph_tensors.size() != unit.tensors.size())
      throw VerificationError("unit " + name + " lost or gained tensors");
    for (std::size_t t = 0; t < unit.tensors.size(); ++t) {
      const LoadedTensor& tensor = unit.tensors[t];
      const auto found = graph_tensors.find(tensor.name);
      if (found == graph_tensors.end())
        throw VerificationError("tensor " + name + "/" + tensor.name + " is not in the model");
      const TensorInfo& info = *found->second;
      const std::string label = component.name + "/" + tensor.name;
      if (tensor.shape != info.shape) throw VerificationError("tensor " + label + " has the wrong shape");
      const DType expected = placed_dtype(info.dtype, model.graph.target_dtype);
      if (tensor.dtype != expected)
        throw VerificationError("tensor " + label + " is " + std::string(dtype_name(tensor.dtype)) + ", expected " +
                                std::string(dtype_name(expected)));
      if (!tensor.tied_to.empty()) {
        const auto [owner_unit, owner_tensor] = unit.tie_owners.at(t);
        if (owner_unit >= loaded.units().size() ||
            loaded.units()[owner_unit].tensors.at(owner_tensor).shape != tensor.shape)
          throw VerificationError("tensor " + label + " is tied to a tensor that was not loaded with its shape");
      } else if (unit.placement.mode == PlacementMode::streamed && unit.block == nullptr && tensor.host == nullptr &&
                 tensor.source.file < 0 && tensor.bytes > 0) {
        throw VerificationError("streamed tensor " + label + " has no source to stream from");
      }
      checked.emplace(unit.component, tensor.name);
      if (!check_data || !tensor.tied_to.empty() || tensor.bytes == 0 || unit.block == nullptr) continue;
      device_bytes.resize(tensor.bytes);
      file_bytes.resize(tensor.bytes);
      runtime.read_back(*unit.block, tensor.offset, tensor.bytes, device_bytes.data());
      read_tensor(tensor.source, file_bytes.data());
      if (std::memcmp(device_bytes.data(), file_bytes.data(), tensor.bytes) != 0)
        throw VerificationError("the bytes of " + label + " on " + unit.block->device().str() +
                                " differ from the file's");
    }
  }
  return checked.size();
}

}  // namespace vramguard
