// The guard refuses any plan that breaks a rule, naming the plugin, the unit and the figures.
#include <gtest/gtest.h>

#include "guard/plan_validator.hpp"
#include "support/planning_builders.hpp"

using namespace vramguard;
using namespace vramguard::testing;

namespace {

Placement resident_plan(const ModelGraph& model, const std::string& gpu = "cuda:0") {
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
  EXPECT_EQ(prediction.find("cuda:0")->resident_bytes, 20 * MiB);
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
  plan.units.push_back({"model", "ghost", "cuda:0", PlacementMode::resident, "cuda:0"});
  expect_invalid(model, make_budget({GiB}, GiB), plan, {"ghost"});
  expect_invalid(model, make_budget({GiB}, GiB), resident_plan(model, "cuda:7"), {"cuda:7"});
}

TEST(PlanValidator, RefusesInconsistentModes) {
  const auto model = make_model({MiB});
  auto plan = resident_plan(model);
  plan.units[0] = {"model", "layers.0", "cpu", PlacementMode::resident, "cuda:0"};
  expect_invalid(model, make_budget({GiB}, GiB), plan, {"resident unit model/layers.0"});
  plan.units[0] = {"model", "layers.0", "cuda:0", PlacementMode::streamed, "cuda:0"};
  expect_invalid(model, make_budget({GiB}, GiB), plan, {"streamed unit"});
  plan.units[0] = {"model", "layers.0", "cpu", PlacementMode::cpu, "cpu"};
  expect_invalid(model, make_budget({GiB}, GiB), plan, {"--allow-cpu-compute"});
}

TEST(PlanValidator, RefusesSplitTieGroups) {
  auto model = make_model({MiB, MiB});
  model.components[0].units[0].tie_group = model.components[0].units[1].tie_group = "tied:embed";
  auto plan = resident_plan(model);
  plan.units[1] = {"model", "layers.1", "cuda:1", PlacementMode::resident, "cuda:1"};
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
  plan.settings["prefetch_depth"] = "2";
  for (const auto& unit : model.components[0].units) plan.units.push_back({"model", unit.name, "cpu", PlacementMode::streamed, "cuda:0"});
  expect_invalid(model, make_budget({25 * MiB}, GiB), plan, {"streaming window"});  // 3 slots of 10 MiB
  plan.settings["prefetch_depth"] = "1";
  EXPECT_NO_THROW(validate_plan(model, make_budget({25 * MiB}, GiB), {}, plan, "hand-made"));
}

TEST(PlanValidator, RefusesStreamingBeyondThePinnedCap) {
  const auto model = make_model({10 * MiB, 10 * MiB});
  Placement plan;
  plan.strategy = "hand-made";
  for (const auto& unit : model.components[0].units) plan.units.push_back({"model", unit.name, "cpu", PlacementMode::streamed, "cuda:0"});
  auto budget = make_budget({GiB}, GiB);
  budget.pinned_cap_bytes = 15 * MiB;
  expect_invalid(model, budget, plan, {"pinned cap"});
}
