#pragma once
// Placement: what a strategy returns. For each unit: where its weights are stored, how it runs,
// and where it executes; the streaming window's prefetch depth; the strategy's own settings and a
// one-line explanation.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "vramguard/device_id.hpp"

namespace vramguard {

enum class PlacementMode : std::uint8_t {
  resident,  // weights live on the executing GPU for the whole run
  streamed,  // weights live on the host (pinned RAM, or the page cache for "disk") and are copied
             // into a rotating window on the executing GPU just before use
  cpu,       // weights live in RAM and the unit computes on the CPU
};
std::string_view placement_mode_name(PlacementMode mode);

struct UnitPlacement {
  std::string component;
  std::string unit;
  DeviceId storage;  // holds the weights between uses: a GPU, cpu (host RAM) or disk (page cache)
  PlacementMode mode = PlacementMode::resident;
  DeviceId executes_on;  // a GPU, or cpu for mode cpu
};

struct Placement {
  std::string strategy;
  std::vector<UnitPlacement> units;             // one per unit of the graph, in graph order
  int prefetch_depth = 0;                       // streamed units copied this many units ahead
  std::map<std::string, std::string> settings;  // the strategy's own choices, for reports
  std::string explanation;                      // why this placement, in one line

  const UnitPlacement* find(std::string_view component, std::string_view unit) const;
};

}  // namespace vramguard
