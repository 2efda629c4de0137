#include "vramguard/placement.hpp"

namespace vramguard {

std::string_view placement_mode_name(PlacementMode mode) {
  switch (mode) {
    case PlacementMode::resident: return "resident";
    case PlacementMode::streamed: return "streamed";
    case PlacementMode::cpu: return "cpu";
  }
  return "resident";
}

const UnitPlacement* Placement::find(std::string_view component, std::string_view unit) const {
  for (const auto& placed : units)
    if (placed.component == component && placed.unit == unit) return &placed;
  return nullptr;
}

}  // namespace vramguard
