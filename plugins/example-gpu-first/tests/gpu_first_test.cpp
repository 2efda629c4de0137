#include <gtest/gtest.h>

#include "gpu_first.hpp"

using namespace vramguard;

namespace {

ModelGraph model_of(std::initializer_list<std::uint64_t> unit_bytes) {
  Component component{"model", "generic", {}};
  int i = 0;
  for (auto bytes : unit_bytes) {
    Unit unit;
    unit.name = "layers." + std::to_string(i++);
    unit.bytes = bytes;
    component.units.push_back(unit);
  }
  ModelGraph model;
  model.components.push_back(component);
  return model;
}

DeviceBudget budget_of(std::initializer_list<std::uint64_t> gpu_usable, std::uint64_t cpu_usable) {
  DeviceBudget budget;
  int index = 0;
  for (auto usable : gpu_usable) {
    DeviceInfo gpu;
    gpu.name = "cuda:" + std::to_string(index);
    gpu.index = index++;
    gpu.usable_bytes = usable;
    budget.devices.push_back(gpu);
  }
  DeviceInfo cpu;
  cpu.name = "cpu";
  cpu.kind = DeviceKind::cpu;
  cpu.usable_bytes = cpu_usable;
  budget.devices.push_back(cpu);
  return budget;
}

Placement plan(const ModelGraph& model, const DeviceBudget& budget) {
  Workload workload;
  StrategyOptions options;
  return gpu_first::GpuFirstStrategy().plan({model, budget, workload, options});
}

}  // namespace

TEST(GpuFirst, FillsTheFirstGpuThenTheNext) {
  const auto placement = plan(model_of({4, 4, 4}), budget_of({8, 8}, 100));
  ASSERT_EQ(placement.units.size(), 3u);
  EXPECT_EQ(placement.units[0].storage, "cuda:0");
  EXPECT_EQ(placement.units[1].storage, "cuda:0");
  EXPECT_EQ(placement.units[2].storage, "cuda:1");
  EXPECT_EQ(placement.units[2].mode, PlacementMode::resident);
}

TEST(GpuFirst, StreamsWhatNoGpuHoldsAndRunsItOnTheFirstGpu) {
  const auto placement = plan(model_of({6, 6, 6}), budget_of({8}, 100));
  EXPECT_EQ(placement.units[0].mode, PlacementMode::resident);
  EXPECT_EQ(placement.units[1].mode, PlacementMode::streamed);
  EXPECT_EQ(placement.units[1].storage, "cpu");
  EXPECT_EQ(placement.units[1].executes_on, "cuda:0");
}

TEST(GpuFirst, KeepsTiedUnitsTogether) {
  auto model = model_of({4, 4, 1});
  model.components[0].units[0].tie_group = "embed";
  model.components[0].units[2].tie_group = "embed";
  const auto placement = plan(model, budget_of({6, 100}, 100));
  EXPECT_EQ(placement.units[0].storage, "cuda:0");
  EXPECT_EQ(placement.units[2].storage, placement.units[0].storage);
}

TEST(GpuFirst, RefusesABudgetWithoutGpus) {
  EXPECT_THROW(plan(model_of({1}), budget_of({}, 100)), NoFitError);
}

TEST(GpuFirst, RefusesWhenCpuMemoryCannotHoldTheOverflow) {
  try {
    plan(model_of({6, 6, 6}), budget_of({8}, 10));
    FAIL();
  } catch (const NoFitError& e) {
    EXPECT_EQ(e.minimum_bytes().at("cpu"), 12u);
  }
}
