// The example plugin's own tests: its placements, each checked against the host's plan rules with the
// SDK's check_plan, so a plan the host would refuse fails here first.
#include <gtest/gtest.h>

#include <vramguard/sdk.hpp>

#include "gpu_first.hpp"

using namespace vramguard;

namespace {

constexpr std::uint64_t MiB = 1ULL << 20;

// A unit of `bytes` in one bf16 tensor.
Unit unit_of(const std::string& name, std::uint64_t bytes) {
  Unit unit;
  unit.name = name;
  TensorInfo tensor;
  tensor.name = name + ".weight";
  tensor.dtype = DType::BF16;
  tensor.elements = bytes / 2;
  tensor.shape = {static_cast<std::int64_t>(tensor.elements)};
  tensor.stored_bytes = tensor.bytes = bytes;
  unit.tensors.push_back(tensor);
  unit.bytes = bytes;
  return unit;
}

ModelGraph model_of(std::initializer_list<std::uint64_t> unit_bytes) {
  Component component{"model", "generic", {}};
  int i = 0;
  for (auto bytes : unit_bytes) component.units.push_back(unit_of("layers." + std::to_string(i++), bytes));
  ModelGraph model;
  model.components.push_back(component);
  return model;
}

DeviceBudget budget_of(std::initializer_list<std::uint64_t> gpu_usable, std::uint64_t cpu_usable, bool disk = false) {
  DeviceBudget budget;
  int index = 0;
  for (auto usable : gpu_usable) {
    DeviceInfo gpu;
    gpu.id = DeviceId::gpu(index++);
    gpu.usable_bytes = usable;
    budget.devices.push_back(gpu);
  }
  DeviceInfo cpu;
  cpu.id = DeviceId::host();
  cpu.usable_bytes = cpu_usable;
  budget.devices.push_back(cpu);
  if (disk) {
    DeviceInfo page_cache;
    page_cache.id = DeviceId::page_cache();
    page_cache.usable_bytes = UINT64_MAX;
    budget.devices.push_back(page_cache);
  }
  budget.pinned_cap_bytes = cpu_usable;
  return budget;
}

// Plans, and holds the plan to the rules the host will check before it costs memory.
Placement plan(const ModelGraph& model, const DeviceBudget& budget, const StrategyOptions& options = {}) {
  const Workload workload;
  Placement placement = gpu_first::GpuFirstStrategy().plan({model, budget, workload, options});
  const PlanCheck check = check_plan(model, budget, workload, placement);
  for (const auto& violation : check.violations) ADD_FAILURE() << violation;
  return placement;
}

}  // namespace

TEST(GpuFirst, FillsTheFirstGpuThenTheNext) {
  const auto placement = plan(model_of({4 * MiB, 4 * MiB, 4 * MiB}), budget_of({8 * MiB, 8 * MiB}, 100 * MiB));
  ASSERT_EQ(placement.units.size(), 3u);
  EXPECT_EQ(placement.units[0].storage, DeviceId::gpu(0));
  EXPECT_EQ(placement.units[1].storage, DeviceId::gpu(0));
  EXPECT_EQ(placement.units[2].storage, DeviceId::gpu(1));
  EXPECT_EQ(placement.units[2].mode, PlacementMode::resident);
}

TEST(GpuFirst, StreamsWhatNoGpuHoldsAndKeepsRoomForTheWindow) {
  // 16 MiB usable, five 4 MiB units: a 2-slot window (8 MiB) leaves room for two resident units.
  const auto placement =
      plan(model_of({4 * MiB, 4 * MiB, 4 * MiB, 4 * MiB, 4 * MiB}), budget_of({16 * MiB}, 100 * MiB));
  EXPECT_EQ(placement.units[1].mode, PlacementMode::resident);
  EXPECT_EQ(placement.units[2].mode, PlacementMode::streamed);
  EXPECT_EQ(placement.units[2].storage, DeviceId::host());
  EXPECT_EQ(placement.units[2].executes_on, DeviceId::gpu(0));
  EXPECT_EQ(placement.prefetch_depth, 1);
}

TEST(GpuFirst, StaysValidWithVeryLittleGpuMemory) {
  // The host refused the first version's plans here: it counted raw bytes and no window.
  for (std::uint64_t usable : {4 * MiB, 5 * MiB, 8 * MiB, 12 * MiB}) {
    const auto model = model_of({3 * MiB, 1 * MiB, 2 * MiB, 3 * MiB});
    try {
      plan(model, budget_of({usable}, 64 * MiB), {{"prefetch", "0"}});
    } catch (const NoFitError& e) {
      EXPECT_GT(e.minimum_bytes().at(DeviceId::gpu(0)), usable) << e.what();
    }
  }
}

TEST(GpuFirst, StreamsFromThePageCacheWhenRamIsShort) {
  const auto placement =
      plan(model_of({4 * MiB, 4 * MiB, 4 * MiB}), budget_of({8 * MiB}, 4 * MiB, true), {{"prefetch", "0"}});
  EXPECT_EQ(placement.units[1].storage, DeviceId::host());
  EXPECT_EQ(placement.units[2].storage, DeviceId::page_cache());
}

TEST(GpuFirst, KeepsTiedUnitsTogether) {
  auto model = model_of({4 * MiB, 4 * MiB, 2 * MiB});
  model.components[0].units[0].tie_group = "embed";
  model.components[0].units[2].tie_group = "embed";
  const auto placement = plan(model, budget_of({6 * MiB, 100 * MiB}, 100 * MiB));
  EXPECT_EQ(placement.units[2].storage, placement.units[0].storage);
}

TEST(GpuFirst, RefusesABudgetWithoutGpus) { EXPECT_THROW(plan(model_of({MiB}), budget_of({}, 100 * MiB)), NoFitError); }

TEST(GpuFirst, RefusesWhenHostMemoryCannotHoldTheOverflow) {
  try {
    plan(model_of({6 * MiB, 6 * MiB, 6 * MiB}), budget_of({14 * MiB}, 4 * MiB));
    FAIL();
  } catch (const NoFitError& e) {
    EXPECT_GT(e.minimum_bytes().at(DeviceId::host()), 4 * MiB) << e.what();
  }
}
