// For 10,000 random model graphs and budgets, every built-in strategy returns a plan that passes the
// guard's validation, or a clear "does not fit" error with the minimum memory it would need — never
// an invalid plan, never a crash. The generator is seeded, so a failure reproduces.
#include <random>

#include <gtest/gtest.h>

#include "auto/auto_strategy.hpp"
#include "balanced/balanced_strategy.hpp"
#include "guard/plan_validator.hpp"
#include "multi_gpu/multi_gpu_strategy.hpp"
#include "sequential_offload/sequential_offload_strategy.hpp"
#include "support/planning_builders.hpp"

using namespace vramguard;
using namespace vramguard::testing;

namespace {

struct Case {
  ModelGraph model;
  DeviceBudget budget;
  Workload workload;
  std::string description;
};

Case random_case(std::mt19937_64& rng) {
  auto uniform = [&](std::uint64_t lo, std::uint64_t hi) {
    return std::uniform_int_distribution<std::uint64_t>(lo, hi)(rng);
  };
  auto chance = [&](double p) { return std::bernoulli_distribution(p)(rng); };
  Case c;
  const std::size_t components = uniform(1, 3);
  for (std::size_t k = 0; k < components; ++k) {
    Component component;
    component.name = "c" + std::to_string(k);
    component.default_tokens = uniform(0, 8192);
    component.activation_bytes_per_token = static_cast<double>(uniform(0, 200'000));
    const std::size_t units = uniform(1, 40);
    // Sizes from a few kB to 2 GB, in a few regimes: uniform stacks, a large embedding, tiny norms.
    const std::uint64_t typical = uniform(1, 4) == 1 ? uniform(1'000, 1'000'000) : uniform(1'000'000, 2'000'000'000);
    for (std::size_t u = 0; u < units; ++u) {
      std::uint64_t bytes = chance(0.2) ? uniform(2, 1'000'000) : typical + uniform(0, typical / 4);
      bytes -= bytes % 2;
      component.units.push_back(make_unit("m.layers." + std::to_string(u), bytes,
                                          chance(0.8) ? UnitKind::block : UnitKind::other,
                                          static_cast<double>(bytes) * static_cast<double>(uniform(0, 4))));
    }
    if (units >= 2 && chance(0.3)) {  // a tied embedding and head: the head's weight is the embedding's
      component.units.front().tie_group = component.units.back().tie_group = "tied:m.layers.0.weight";
      // The head's own bytes are the tied weight's, which it does not store.
      auto& head = component.units.back();
      head.bytes = 0;
      head.tensors[0].tied_to = "m.layers.0.weight";
      head.tensors[0].bytes = component.units.front().tensors[0].bytes;
    }
    c.model.components.push_back(component);
  }
  const std::size_t gpus = uniform(0, 4);
  std::vector<std::uint64_t> usable;
  for (std::size_t g = 0; g < gpus; ++g) usable.push_back(chance(0.1) ? 0 : uniform(0, 24'000'000'000));
  c.budget = make_budget(usable, chance(0.1) ? 0 : uniform(0, 64'000'000'000), chance(0.7));
  for (auto& device : c.budget.devices)
    if (device.id.is_gpu()) {
      device.host_to_device_bytes_per_s = static_cast<double>(uniform(1, 60)) * 1e9;
      device.compute_flops_per_s = static_cast<double>(uniform(1, 1000)) * 1e12;
    }
  c.budget.pinned_cap_bytes = chance(0.3) ? uniform(0, c.budget.cpu()->usable_bytes) : c.budget.cpu()->usable_bytes;
  c.budget.allow_cpu_compute = chance(0.3);
  c.workload.tokens = chance(0.5) ? 0 : uniform(1, 16384);
  c.description = std::to_string(components) + " components, " + std::to_string(c.model.unit_count()) + " units, " +
                  std::to_string(gpus) + " GPUs";
  return c;
}

}  // namespace

TEST(StrategyProperties, EveryPlanIsValidOrAClearDoesNotFit) {
  const std::vector<std::pair<std::string, std::shared_ptr<PlacementStrategy>>> strategies = {
      {"balanced", std::make_shared<strategies::BalancedStrategy>()},
      {"sequential-offload", std::make_shared<strategies::SequentialOffloadStrategy>()},
      {"multi-gpu", std::make_shared<strategies::MultiGpuStrategy>()},
      {"auto", std::make_shared<strategies::AutoStrategy>()},
  };
  std::mt19937_64 rng(20261127);
  std::map<std::string, int> planned, refused;
  for (int i = 0; i < 10'000; ++i) {
    const Case c = random_case(rng);
    bool any_usable_gpu = false;
    for (const auto* gpu : c.budget.gpus()) any_usable_gpu = any_usable_gpu || gpu->usable_bytes > 0;
    for (const auto& [name, strategy] : strategies) {
      try {
        const Placement placement = strategy->plan({c.model, c.budget, c.workload, {}});
        validate_plan(c.model, c.budget, c.workload, placement, name);
        ++planned[name];
      } catch (const NoFitError& e) {
        ++refused[name];
        if (e.reason().empty()) ADD_FAILURE() << "case " << i << ": " << name << " refused without a reason";
        if (any_usable_gpu && e.minimum_bytes().empty())
          ADD_FAILURE() << "case " << i << " (" << c.description << "): " << name
                        << " refused without a minimum: " << e.what();
        // A refusal that claims to need no more than the device already offers contradicts itself.
        for (const auto& [device, bytes] : e.minimum_bytes()) {
          const DeviceInfo* info = c.budget.find(device);
          if (info == nullptr) {
            ADD_FAILURE() << "case " << i << ": " << name << " names " << device.str() << ", which the budget lacks";
            continue;
          }
          const std::uint64_t offered =
              device == DeviceId::host() ? std::min(info->usable_bytes, c.budget.pinned_cap_bytes) : info->usable_bytes;
          if (bytes <= offered)
            ADD_FAILURE() << "case " << i << " (" << c.description << "): " << name << " says it needs " << bytes
                          << " on " << device.str() << ", which offers " << offered << ": " << e.what();
        }
      } catch (const std::exception& e) {
        ADD_FAILURE() << "case " << i << " (" << c.description << "): " << name << " failed: " << e.what();
      }
    }
  }
  for (const auto& [name, strategy] : strategies) {
    // The generator must exercise both outcomes, or the property says little.
    EXPECT_GT(planned[name], 1000) << name;
    EXPECT_GT(refused[name], 100) << name;
  }
}
