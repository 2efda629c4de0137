// The guard refuses any plan that breaks a rule, naming the plugin, the unit and the figures.
#include <gtest/gtest.h>

#include "guard/plan_validator.hpp"
#include "support/planning_builders.hpp"

using namespace vramguard;
using namespace vramguard::testing;

namespace {

Placement resident_plan(const ModelGraph& model, DeviceId gpu = kGpu0) {
  Placement placement;
  placement.strategy = "hand-made";
  for (const auto& unit : model.components[0].units)
    placement.units.push_back({"model", unit.name, gpu, PlacementMode::resident, gpu});
  return placement;
}

void expect_invalid(const ModelGraph& model, const DeviceBudget& budget, const Placement& placement,
                    std::initializer_list<std::string> fragments) {
  try {
    validate_plan(model, budget, {}, placement, "hand-made");
    ADD_FAILURE() << "accepted an invalid plan";
  } catch (const InvalidPlanError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("'hand-made'"), std::string::npos) << message;
    for (const auto& f : fragments) EXPECT_NE(message.find(f), std::string::npos) << message;
    EXPECT_EQ(e.exit_code(), ExitCode::job_failed);
  }
}

}  // namespace

TEST(PlanValidator, AcceptsAPlanThatFits) {
  const auto model = make_model({10 * MiB, 10 * MiB});
  const auto prediction = validate_plan(model, make_budget({GiB}, GiB), {}, resident_plan(model), "hand-made");
  EXPECT_EQ(prediction.find(kGpu0)->resident_bytes, 20 * MiB);
}

TEST(PlanValidator, RefusesAMissingUnit) {
  const auto model = make_model({MiB, MiB});
  auto plan = resident_plan(model);
  plan.units.pop_back();
  expect_invalid(model, make_budget({GiB}, GiB), plan, {"model/layers.1", "not placed"});
}

TEST(PlanValidator, RefusesAUnitPlacedTwice) {
  const auto model = make_model({MiB});
  auto plan = resident_plan(model);
  plan.units.push_back(plan.units.front());
  expect_invalid(model, make_budget({GiB}, GiB), plan, {"layers.0", "more than once"});
}

TEST(PlanValidator, RefusesAnUnknownUnitOrDevice) {
  const auto model = make_model({MiB});
  auto plan = resident_plan(model);
  plan.units.push_back({"model", "ghost", kGpu0, PlacementMode::resident, kGpu0});
  expect_invalid(model, make_budget({GiB}, GiB), plan, {"ghost"});
  expect_invalid(model, make_budget({GiB}, GiB), resident_plan(model, DeviceId::gpu(7)), {"cuda:7"});
}

TEST(PlanValidator, RefusesInconsistentModes) {
  const auto model = make_model({MiB});
  auto plan = resident_plan(model);
  plan.units[0] = {"model", "layers.0", kCpu, PlacementMode::resident, kGpu0};
  expect_invalid(model, make_budget({GiB}, GiB), plan, {"resident unit model/layers.0"});
  plan.units[0] = {"model", "layers.0", kGpu0, PlacementMode::streamed, kGpu0};
  expect_invalid(model, make_budget({GiB}, GiB), plan, {"streamed unit"});
  plan.units[0] = {"model", "layers.0", kCpu, PlacementMode::cpu, kCpu};
  expect_invalid(model, make_budget({GiB}, GiB), plan, {"--allow-cpu-compute"});
}

TEST(PlanValidator, RefusesSplitTieGroups) {
  auto model = make_model({MiB, MiB});
  model.components[0].units[0].tie_group = model.components[0].units[1].tie_group = "tied:embed";
  auto plan = resident_plan(model);
  plan.units[1] = {"model", "layers.1", kGpu1, PlacementMode::resident, kGpu1};
  expect_invalid(model, make_budget({GiB, GiB}, GiB), plan, {"tied:embed", "split"});
}

TEST(PlanValidator, RefusesAGpuOverItsUsableBytesWithTheFigures) {
  const auto model = make_model({10 * MiB, 10 * MiB});
  expect_invalid(model, make_budget({15 * MiB}, GiB), resident_plan(model), {"cuda:0", "20.97 MB", "usable"});
}

TEST(PlanValidator, CountsTheStreamingWindow) {
  const auto model = make_model({10 * MiB, 10 * MiB});
  Placement plan;
  plan.strategy = "hand-made";
  plan.prefetch_depth = 2;
  for (const auto& unit : model.components[0].units)
    plan.units.push_back({"model", unit.name, kCpu, PlacementMode::streamed, kGpu0});
  expect_invalid(model, make_budget({25 * MiB}, GiB), plan, {"streaming window"});  // 3 slots of 10 MiB
  plan.prefetch_depth = 1;
  EXPECT_NO_THROW(validate_plan(model, make_budget({25 * MiB}, GiB), {}, plan, "hand-made"));
}

TEST(PlanValidator, RefusesStreamingBeyondThePinnedCap) {
  const auto model = make_model({10 * MiB, 10 * MiB});
  Placement plan;
  plan.strategy = "hand-made";
  for (const auto& unit : model.components[0].units)
    plan.units.push_back({"model", unit.name, kCpu, PlacementMode::streamed, kGpu0});
  auto budget = make_budget({GiB}, GiB);
  budget.pinned_cap_bytes = 15 * MiB;
  expect_invalid(model, budget, plan, {"pinned cap"});
}

TEST(PlanValidator, RefusesAPrefetchDepthOutOfRange) {
  const auto model = make_model({MiB});
  auto plan = resident_plan(model);
  plan.prefetch_depth = -1;
  expect_invalid(model, make_budget({GiB}, GiB), plan, {"prefetch depth -1"});
  plan.prefetch_depth = kMaxPrefetchDepth + 1;
  expect_invalid(model, make_budget({GiB}, GiB), plan, {"prefetch depth"});
}

TEST(PlanRules, APluginCanCheckItsPlansWithoutTheHost) {
  // What a plugin's own tests call: every violation listed, none thrown.
  const auto model = make_model({10 * MiB, 10 * MiB});
  auto plan = resident_plan(model);
  plan.units.pop_back();
  const PlanCheck check = check_plan(model, make_budget({15 * MiB}, GiB), {}, plan);
  EXPECT_FALSE(check.ok());
  ASSERT_EQ(check.violations.size(), 1u);
  EXPECT_NE(check.violations[0].find("not placed"), std::string::npos) << check.violations[0];
  EXPECT_TRUE(check_plan(model, make_budget({GiB}, GiB), {}, resident_plan(model)).ok());
}

TEST(PlanRules, ATiedHeadStreamsWithItsEmbeddingsBytesInItsSlot) {
  // The head's weight is the embedding's: stored once, but its slot must hold it while the head runs.
  auto model = make_model({40 * MiB, 2 * MiB});
  auto& head = model.components[0].units[1];
  TensorInfo tied = model.components[0].units[0].tensors[0];
  tied.name = "lm_head.weight";
  tied.tied_to = model.components[0].units[0].tensors[0].name;
  head.tensors.push_back(tied);
  EXPECT_EQ(allocated_bytes(head), 2 * MiB);
  EXPECT_EQ(window_slot_bytes(head), 42 * MiB);
}
