// Your strategy's tests: build a model and a budget, plan, and hold the plan to the host's rules.
#include <gtest/gtest.h>

#include <vramguard/sdk.hpp>

#include "my_strategy.hpp"

using namespace vramguard;

TEST(MyStrategy, PlacesEverythingOnTheFirstGpuWhenItFits) {
  ModelGraph model;
  Unit unit;
  unit.name = "layers.0";
  TensorInfo tensor;
  tensor.name = "layers.0.weight";
  tensor.elements = 1024;
  tensor.shape = {1024};
  tensor.stored_bytes = tensor.bytes = 2048;
  unit.tensors.push_back(tensor);
  unit.bytes = 2048;
  model.components.push_back({"model", "generic", {unit}});
  DeviceBudget budget;
  DeviceInfo gpu;
  gpu.id = DeviceId::gpu(0);
  gpu.usable_bytes = 8 << 20;
  budget.devices.push_back(gpu);
  // Host memory and its pinned share, as the host declares them: a plan that streams holds its weights
  // there, and check_plan refuses one that streams into a budget without them.
  DeviceInfo cpu;
  cpu.id = DeviceId::host();
  cpu.usable_bytes = 1ULL << 30;
  budget.devices.push_back(cpu);
  budget.pinned_cap_bytes = 1ULL << 30;
  const Workload workload;
  const StrategyOptions options;
  const auto placement = my_strategy::MyStrategy().plan({model, budget, workload, options});
  ASSERT_EQ(placement.units.size(), 1u);
  EXPECT_EQ(placement.units[0].storage, DeviceId::gpu(0));
  EXPECT_TRUE(check_plan(model, budget, workload, placement).ok());

  budget.devices[0].usable_bytes = 1 << 20;  // less than one 2 MiB allocator segment
  EXPECT_THROW(my_strategy::MyStrategy().plan({model, budget, workload, options}), NoFitError);
}
