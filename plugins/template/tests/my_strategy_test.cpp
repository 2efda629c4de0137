#include <gtest/gtest.h>

#include "my_strategy.hpp"

using namespace vramguard;

TEST(MyStrategy, PlacesEverythingOnTheFirstGpuWhenItFits) {
  ModelGraph model;
  Unit unit;
  unit.name = "layers.0";
  unit.bytes = 10;
  model.components.push_back({"model", "generic", {unit}});
  DeviceBudget budget;
  DeviceInfo gpu;
  gpu.name = "cuda:0";
  gpu.usable_bytes = 100;
  budget.devices.push_back(gpu);
  Workload workload;
  StrategyOptions options;
  const auto placement = my_strategy::MyStrategy().plan({model, budget, workload, options});
  ASSERT_EQ(placement.units.size(), 1u);
  EXPECT_EQ(placement.units[0].storage, "cuda:0");

  budget.devices[0].usable_bytes = 5;
  EXPECT_THROW(my_strategy::MyStrategy().plan({model, budget, workload, options}), NoFitError);
}
