#pragma once
#include <vector>

#include <vramguard/strategy.hpp>

namespace my_strategy {

class MyStrategy final : public vramguard::PlacementStrategy {
 public:
  vramguard::Placement plan(const vramguard::PlanRequest& request) const override;
  // The options plan() reads, for `vramguard plugins` and `vramguard help plan`: one
  // {key, values, description} each, e.g. {"prefetch", "0-16", "units copied ahead (default 1)"}.
  static std::vector<vramguard::StrategyOptionInfo> options() { return {}; }
};

}  // namespace my_strategy
