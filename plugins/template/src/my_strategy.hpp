#pragma once
#include <vramguard/strategy.hpp>

namespace my_strategy {

class MyStrategy final : public vramguard::PlacementStrategy {
 public:
  vramguard::Placement plan(const vramguard::PlanRequest& request) const override;
};

}  // namespace my_strategy
