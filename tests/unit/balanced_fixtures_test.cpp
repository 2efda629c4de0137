// `balanced` gives the device maps accelerate 1.15 gives, for a spread of module trees and budgets.
// tests/data/accelerate/fixtures.json was made by running accelerate itself
// (tests/data/accelerate/make_fixtures.py, on the GPU machine where it is installed).
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "balanced/balanced_strategy.hpp"
#include "guard/plan_validator.hpp"
#include "support/planning_builders.hpp"

using namespace vramguard;
using namespace vramguard::testing;

namespace {

nlohmann::json load_fixtures() {
  std::ifstream in(std::string(TEST_DATA_DIR) + "/accelerate/fixtures.json");
  return nlohmann::json::parse(in);
}

ModelGraph graph_of(const nlohmann::json& fixture) {
  ModelGraph model;
  Component component;
  component.name = "model";
  for (const auto& u : fixture["units"]) {
    Unit unit;
    unit.name = u["name"];
    unit.kind = u["kind"] == "block" ? UnitKind::block : UnitKind::other;
    for (const auto& t : u["tensors"]) {
      TensorInfo tensor;
      tensor.name = t["name"];
      tensor.dtype = DType::BF16;
      tensor.shape = t["shape"].get<std::vector<std::int64_t>>();
      tensor.elements = 1;
      for (auto d : tensor.shape) tensor.elements *= static_cast<std::uint64_t>(d);
      tensor.stored_bytes = tensor.bytes = tensor.elements * 2;
      unit.bytes += tensor.bytes;
      unit.parameters += tensor.elements;
      unit.tensors.push_back(tensor);
    }
    component.units.push_back(unit);
  }
  model.components.push_back(component);
  return model;
}

DeviceBudget budget_of(const nlohmann::json& fixture) {
  std::vector<std::uint64_t> gpus;
  std::uint64_t cpu = 0;
  for (const auto& [key, value] : fixture["max_memory"].items()) {
    if (key == "cpu") cpu = value.get<std::uint64_t>();
    else gpus.push_back(value.get<std::uint64_t>());
  }
  return make_budget(gpus, cpu);
}

// The device accelerate's (cleaned) map gives a unit: the entry with the longest matching prefix.
std::string accelerate_device(const nlohmann::json& device_map, const std::string& unit) {
  std::string best_key;
  std::string device = "(unmapped)";
  for (const auto& [key, value] : device_map.items()) {
    const bool covers = key.empty() || unit == key || unit.rfind(key + ".", 0) == 0;
    if (!covers || (key.size() < best_key.size() && !best_key.empty())) continue;
    best_key = key;
    device = value.is_number() ? "cuda:" + std::to_string(value.get<int>()) : value.get<std::string>();
  }
  return device;
}

}  // namespace

TEST(BalancedMatchesAccelerate, EveryFixtureGivesTheSameDeviceMap) {
  const auto fixtures = load_fixtures();
  ASSERT_GE(fixtures["fixtures"].size(), 50u);
  EXPECT_EQ(fixtures["accelerate_version"], "1.15.0");
  for (const auto& fixture : fixtures["fixtures"]) {
    const std::string label = fixture["model"].get<std::string>() + " " + fixture["mode"].get<std::string>() + " " +
                              fixture["max_memory"].dump();
    const ModelGraph model = graph_of(fixture);
    const DeviceBudget budget = budget_of(fixture);
    StrategyOptions options{{"prefetch", "0"}};  // accelerate's map exactly (prefetch keeps room for a second slot)
    if (fixture["mode"] == "balanced_low_0") options["low_zero"] = "true";
    if (fixture["mode"] == "sequential") options["fill"] = "sequential";
    Placement placement;
    try {
      placement = plan_with(strategies::BalancedStrategy(), model, budget, options);
    } catch (const NoFitError& e) {
      ADD_FAILURE() << label << ": " << e.what();
      continue;
    }
    for (const auto& unit : model.components[0].units) {
      const auto* placed = placement.find("model", unit.name);
      ASSERT_NE(placed, nullptr);
      EXPECT_EQ(placed->storage.str(), accelerate_device(fixture["device_map"], unit.name))
          << label << " unit " << unit.name;
    }
    EXPECT_NO_THROW(validate_plan(model, budget, {}, placement, "balanced")) << label;
  }
}
