#include "vramguard/placement.hpp"

#include <cstdlib>

namespace vramguard {

std::string_view placement_mode_name(PlacementMode mode) {
  switch (mode) {
    case PlacementMode::resident: return "resident";
    case PlacementMode::streamed: return "streamed";
    case PlacementMode::cpu: return "cpu";
  }
  return "resident";
}

int Placement::prefetch_depth() const {
  const auto it = settings.find("prefetch_depth");
  if (it == settings.end()) return 1;
  return std::atoi(it->second.c_str());
}

const UnitPlacement* Placement::find(std::string_view component, std::string_view unit) const {
  for (const auto& placed : units)
    if (placed.component == component && placed.unit == unit) return &placed;
  return nullptr;
}

}  // namespace vramguard
