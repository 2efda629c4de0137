#include "vramguard/model_graph.hpp"

namespace vramguard {

bool multiplies_tokens(const Unit& unit, const TensorInfo& tensor) {
  return tensor.shape.size() >= 2 && (unit.kind != UnitKind::embedding || !tensor.tied_to.empty());
}

std::string_view unit_kind_name(UnitKind kind) {
  switch (kind) {
    case UnitKind::embedding: return "embedding";
    case UnitKind::block: return "block";
    case UnitKind::head: return "head";
    case UnitKind::other: return "other";
  }
  return "other";
}

std::uint64_t Component::bytes() const {
  std::uint64_t total = 0;
  for (const auto& unit : units) total += unit.bytes;
  return total;
}

std::uint64_t Component::parameters() const {
  std::uint64_t total = 0;
  for (const auto& unit : units) total += unit.parameters;
  return total;
}

std::size_t Component::tensor_count() const {
  std::size_t total = 0;
  for (const auto& unit : units)
    for (const auto& tensor : unit.tensors) total += tensor.tied_to.empty() && tensor.first_row == 0 ? 1u : 0u;
  return total;
}

std::size_t Component::tied_tensor_count() const {
  std::size_t total = 0;
  for (const auto& unit : units)
    for (const auto& tensor : unit.tensors) total += tensor.tied_to.empty() ? 0u : 1u;
  return total;
}

const Unit* Component::largest_unit() const {
  const Unit* largest = nullptr;
  for (const auto& unit : units)
    if (largest == nullptr || unit.bytes > largest->bytes) largest = &unit;
  return largest;
}

std::uint64_t ModelGraph::bytes() const {
  std::uint64_t total = 0;
  for (const auto& component : components) total += component.bytes();
  return total;
}

std::uint64_t ModelGraph::parameters() const {
  std::uint64_t total = 0;
  for (const auto& component : components) total += component.parameters();
  return total;
}

std::size_t ModelGraph::unit_count() const {
  std::size_t total = 0;
  for (const auto& component : components) total += component.units.size();
  return total;
}

const Component* ModelGraph::find_component(const std::string& name) const {
  for (const auto& component : components)
    if (component.name == name) return &component;
  return nullptr;
}

}  // namespace vramguard
