#include "model/vocabulary_slices.hpp"

#include <algorithm>

namespace vramguard {
namespace {

bool sliceable(const Unit& unit) {
  if (unit.kind != UnitKind::embedding && unit.kind != UnitKind::head) return false;
  if (!unit.tie_group.empty() || unit.tensors.size() != 1 || !unit.slice_of.empty()) return false;
  const TensorInfo& tensor = unit.tensors.front();
  return tensor.tied_to.empty() && tensor.shape.size() == 2 && tensor.shape[0] > 1 && tensor.first_row == 0;
}

Unit slice(const Unit& whole, std::int64_t first_row, std::int64_t rows) {
  const TensorInfo& tensor = whole.tensors.front();
  const auto all_rows = static_cast<std::uint64_t>(tensor.shape[0]);
  const auto part = static_cast<std::uint64_t>(rows);
  Unit unit;
  unit.name = whole.name + "[" + std::to_string(first_row) + ":" + std::to_string(first_row + rows) + "]";
  unit.slice_of = whole.name;
  unit.kind = whole.kind;
  TensorInfo piece = tensor;
  piece.first_row = first_row;
  piece.shape[0] = rows;
  piece.elements = tensor.elements / all_rows * part;
  piece.stored_bytes = tensor.stored_bytes / all_rows * part;
  piece.bytes = tensor.bytes / all_rows * part;
  unit.tensors.push_back(piece);
  unit.bytes = piece.bytes;
  unit.parameters = piece.elements;
  unit.flops_per_token = whole.flops_per_token * static_cast<double>(part) / static_cast<double>(all_rows);
  unit.fp8_flops_per_token = whole.fp8_flops_per_token * static_cast<double>(part) / static_cast<double>(all_rows);
  unit.sequence_flops_per_token = 0;
  return unit;
}

}  // namespace

void slice_vocabulary_units(Component& component, std::optional<std::uint64_t> slice_bytes) {
  std::uint64_t largest_block = 0;
  for (const auto& unit : component.units)
    if (unit.kind == UnitKind::block) largest_block = std::max(largest_block, unit.bytes);
  const std::uint64_t piece = slice_bytes.value_or(largest_block);
  const std::uint64_t above = slice_bytes.value_or(2 * largest_block);
  if (piece == 0) return;
  std::vector<Unit> units;
  for (auto& unit : component.units) {
    if (!sliceable(unit) || unit.bytes <= above) {
      units.push_back(std::move(unit));
      continue;
    }
    const std::int64_t rows = unit.tensors.front().shape[0];
    const auto count = static_cast<std::int64_t>(
        std::min<std::uint64_t>((unit.bytes + piece - 1) / piece, static_cast<std::uint64_t>(rows)));
    const std::int64_t per_slice = (rows + count - 1) / count;
    for (std::int64_t first = 0; first < rows; first += per_slice)
      units.push_back(slice(unit, first, std::min(per_slice, rows - first)));
  }
  component.units = std::move(units);
}

}  // namespace vramguard
