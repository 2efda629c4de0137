#pragma once
// Placement: what a strategy returns. For each unit: where its weights are stored, how it runs,
// and where it executes; plus the strategy's own settings and a one-line explanation.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

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
  std::string storage;      // device holding the weights between uses: "cuda:0", "cpu", "disk"
  PlacementMode mode = PlacementMode::resident;
  std::string executes_on;  // "cuda:0", or "cpu" for mode cpu
};

struct Placement {
  std::string strategy;
  std::vector<UnitPlacement> units;             // one per unit of the graph, in graph order
  std::map<std::string, std::string> settings;  // e.g. prefetch_depth=1
  std::string explanation;                      // why this placement, in one line

  int prefetch_depth() const;                   // settings["prefetch_depth"], default 1
  const UnitPlacement* find(std::string_view component, std::string_view unit) const;
};

}  // namespace vramguard
