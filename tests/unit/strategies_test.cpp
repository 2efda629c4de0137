// What each built-in strategy promises, on small hand-made models and budgets.
#include <gtest/gtest.h>

#include "auto/auto_strategy.hpp"
#include "balanced/balanced_strategy.hpp"
#include "guard/plan_validator.hpp"
#include "multi_gpu/multi_gpu_strategy.hpp"
#include "sequential_offload/sequential_offload_strategy.hpp"
#include "support/planning_builders.hpp"

using namespace vramguard;
using namespace vramguard::testing;
using namespace vramguard::strategies;

namespace {

std::size_t count_mode(const Placement& placement, PlacementMode mode) {
  std::size_t n = 0;
  for (const auto& u : placement.units) n += u.mode == mode ? 1 : 0;
  return n;
}

Placement planned_and_valid(const PlacementStrategy& strategy, const ModelGraph& model, const DeviceBudget& budget,
                            const StrategyOptions& options = {}) {
  Placement placement = plan_with(strategy, model, budget, options);
  validate_plan(model, budget, {}, placement, placement.strategy);
  return placement;
}

}  // namespace

TEST(Balanced, EverythingResidentWhenItFits) {
  const auto placement =
      planned_and_valid(BalancedStrategy(), make_model({10 * MiB, 10 * MiB}), make_budget({100 * MiB}, GiB));
  EXPECT_EQ(count_mode(placement, PlacementMode::resident), 2u);
}

TEST(Balanced, OffloadsToCpuThenDiskAndRunsOnTheMainGpu) {
  const auto model = make_model(std::vector<std::uint64_t>(8, 10 * MiB));
  const auto placement =
      planned_and_valid(BalancedStrategy(), model, make_budget({40 * MiB}, 30 * MiB), {{"prefetch", "0"}});
  EXPECT_EQ(placement.units.front().storage, kGpu0);
  EXPECT_EQ(placement.units.back().storage, kDisk);
  bool saw_cpu = false;
  for (const auto& u : placement.units) {
    if (u.mode == PlacementMode::streamed) {
      EXPECT_EQ(u.executes_on, kGpu0);
    }
    saw_cpu = saw_cpu || u.storage == kCpu;
  }
  EXPECT_TRUE(saw_cpu);
  EXPECT_EQ(placement.prefetch_depth, 0);
}

// accelerate's map keeps room on the main GPU for one offloaded unit, which its hooks copy and then
// compute; balanced keeps room for two where it can, so that the next one copies while one computes.
TEST(Balanced, StreamsWithPrefetchWhereTheMainGpuHasRoomForASecondSlot) {
  const auto model = make_model(std::vector<std::uint64_t>(8, 10 * MiB));
  auto resident_on_gpu = [](const Placement& p) { return count_mode(p, PlacementMode::resident); };
  const auto accelerate =
      planned_and_valid(BalancedStrategy(), model, make_budget({40 * MiB}, GiB), {{"prefetch", "0"}});
  EXPECT_EQ(resident_on_gpu(accelerate), 3u);  // 30 MiB resident, one 10 MiB slot
  EXPECT_EQ(accelerate.prefetch_depth, 0);
  const auto prefetched = planned_and_valid(BalancedStrategy(), model, make_budget({40 * MiB}, GiB));
  EXPECT_EQ(resident_on_gpu(prefetched), 2u);  // 20 MiB resident, two slots
  EXPECT_EQ(prefetched.prefetch_depth, 1);
  EXPECT_NE(prefetched.explanation.find("streamed with prefetch"), std::string::npos) << prefetched.explanation;
  // Where not even two slots fit, accelerate's map as it is, one unit at a time.
  const auto tight = planned_and_valid(BalancedStrategy(), model, make_budget({15 * MiB}, GiB));
  EXPECT_EQ(tight.prefetch_depth, 0);
  EXPECT_EQ(resident_on_gpu(tight), 0u);
  EXPECT_NE(tight.explanation.find("no room for a prefetch window"), std::string::npos) << tight.explanation;
  // Nothing offloaded: nothing to prefetch, the map unchanged.
  const auto roomy = planned_and_valid(BalancedStrategy(), model, make_budget({GiB}, GiB));
  EXPECT_EQ(resident_on_gpu(roomy), 8u);
  EXPECT_EQ(roomy.prefetch_depth, 0);
}

TEST(Balanced, LowZeroKeepsTheFirstGpuLight) {
  const auto model = make_model(std::vector<std::uint64_t>(10, 10 * MiB));
  const auto even = planned_and_valid(BalancedStrategy(), model, make_budget({200 * MiB, 200 * MiB}, GiB));
  const auto low =
      planned_and_valid(BalancedStrategy(), model, make_budget({200 * MiB, 200 * MiB}, GiB), {{"low_zero", "true"}});
  auto on = [](const Placement& p, DeviceId d) {
    std::size_t n = 0;
    for (const auto& u : p.units) n += u.storage == d ? 1u : 0u;
    return n;
  };
  EXPECT_GT(on(even, kGpu0), 0u);
  EXPECT_GT(on(even, kGpu1), 0u);
  EXPECT_LT(on(low, kGpu0), on(even, kGpu0));
}

TEST(Balanced, SequentialFillUsesTheFirstGpuFirst) {
  const auto model = make_model(std::vector<std::uint64_t>(4, 10 * MiB));
  const auto placement =
      planned_and_valid(BalancedStrategy(), model, make_budget({200 * MiB, 200 * MiB}, GiB), {{"fill", "sequential"}});
  for (const auto& u : placement.units) EXPECT_EQ(u.storage, kGpu0);
}

TEST(Balanced, RefusesUnknownOptions) {
  EXPECT_THROW(plan_with(BalancedStrategy(), make_model({MiB}), make_budget({GiB}, GiB), {{"lowzero", "true"}}),
               InvalidStrategyOption);
  EXPECT_THROW(plan_with(BalancedStrategy(), make_model({MiB}), make_budget({GiB}, GiB), {{"fill", "random"}}),
               InvalidStrategyOption);
}

TEST(SequentialOffload, StreamsEveryUnitThroughAPrefetchWindow) {
  const auto model = make_model({10 * MiB, 20 * MiB, 10 * MiB});
  const auto placement = planned_and_valid(SequentialOffloadStrategy(), model, make_budget({40 * MiB}, GiB));
  EXPECT_EQ(count_mode(placement, PlacementMode::streamed), 3u);
  EXPECT_EQ(placement.prefetch_depth, 1);
  const auto prediction = predict(model, make_budget({40 * MiB}, GiB), placement, {});
  EXPECT_EQ(prediction.find(kGpu0)->window_bytes, 2 * 20 * MiB);
  EXPECT_EQ(prediction.find(kGpu0)->resident_bytes, 0u);
}

TEST(SequentialOffload, KeepsTheFirstUnitsResidentWhenAsked) {
  const auto model = make_model({10 * MiB, 10 * MiB, 10 * MiB});
  const auto placement =
      planned_and_valid(SequentialOffloadStrategy(), model, make_budget({100 * MiB}, GiB), {{"keep_resident", "2"}});
  EXPECT_EQ(placement.units[0].mode, PlacementMode::resident);
  EXPECT_EQ(placement.units[1].mode, PlacementMode::resident);
  EXPECT_EQ(placement.units[2].mode, PlacementMode::streamed);
}

TEST(SequentialOffload, SaysHowMuchTheWindowNeedsWhenItDoesNotFit) {
  try {
    plan_with(SequentialOffloadStrategy(), make_model({30 * MiB}), make_budget({40 * MiB}, GiB));
    FAIL();
  } catch (const NoFitError& e) {
    EXPECT_EQ(e.minimum_bytes().at(kGpu0), 60 * MiB);
    EXPECT_NE(std::string(e.what()).find("prefetch=0"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(plan_with(SequentialOffloadStrategy(), make_model({30 * MiB}), make_budget({40 * MiB}, GiB),
                            {{"prefetch", "0"}}));
}

TEST(SequentialOffload, StreamsFromThePageCacheWhenRamIsShort) {
  const auto placement = planned_and_valid(SequentialOffloadStrategy(), make_model({10 * MiB, 10 * MiB}),
                                           make_budget({40 * MiB}, 12 * MiB));
  EXPECT_EQ(placement.units[0].storage, kCpu);
  EXPECT_EQ(placement.units[1].storage, kDisk);
}

TEST(MultiGpu, SplitsInProportionToUsableMemory) {
  const auto model = make_model(std::vector<std::uint64_t>(8, 10 * MiB));
  const auto placement = planned_and_valid(MultiGpuStrategy(), model, make_budget({300 * MiB, 100 * MiB}, GiB));
  std::size_t first = 0;
  for (const auto& u : placement.units) first += u.storage == kGpu0 ? 1u : 0u;
  EXPECT_EQ(first, 6u);  // 3:1 of 8 units
  EXPECT_EQ(placement.units.back().storage, kGpu1);
  EXPECT_EQ(placement.units.back().executes_on, kGpu1);
}

TEST(MultiGpu, FollowsAnExplicitSplit) {
  const auto model = make_model(std::vector<std::uint64_t>(8, 10 * MiB));
  const auto placement =
      planned_and_valid(MultiGpuStrategy(), model, make_budget({300 * MiB, 300 * MiB}, GiB), {{"split", "1,3"}});
  std::size_t first = 0;
  for (const auto& u : placement.units) first += u.storage == kGpu0 ? 1u : 0u;
  EXPECT_EQ(first, 2u);
  EXPECT_THROW(plan_with(MultiGpuStrategy(), model, make_budget({300 * MiB, 300 * MiB}, GiB), {{"split", "1,2,3"}}),
               InvalidStrategyOption);
}

TEST(MultiGpu, StreamsWhatDoesNotFitOnTheLastGpu) {
  const auto model = make_model(std::vector<std::uint64_t>(10, 10 * MiB));
  const auto placement = planned_and_valid(MultiGpuStrategy(), model, make_budget({40 * MiB, 40 * MiB}, GiB));
  EXPECT_GT(count_mode(placement, PlacementMode::streamed), 0u);
  for (const auto& u : placement.units)
    if (u.mode == PlacementMode::streamed) {
      EXPECT_EQ(u.executes_on, kGpu1);
    }
}

TEST(Auto, PrefersEverythingResidentWhenItFits) {
  const auto placement = planned_and_valid(AutoStrategy(), make_model({10 * MiB, 10 * MiB}), make_budget({GiB}, GiB));
  EXPECT_EQ(count_mode(placement, PlacementMode::resident), 2u);
  EXPECT_NE(placement.explanation.find("everything resident"), std::string::npos) << placement.explanation;
}

TEST(Auto, SplitsAcrossGpusRatherThanStreaming) {
  const auto placement = planned_and_valid(AutoStrategy(), make_model(std::vector<std::uint64_t>(8, 10 * MiB)),
                                           make_budget({50 * MiB, 50 * MiB}, GiB));
  EXPECT_EQ(count_mode(placement, PlacementMode::streamed), 0u);
  EXPECT_NE(placement.explanation.find("split"), std::string::npos) << placement.explanation;
}

TEST(Auto, StreamsWhatCannotBeResidentAndExplainsWhy) {
  const auto placement = planned_and_valid(AutoStrategy(), make_model(std::vector<std::uint64_t>(10, 10 * MiB)),
                                           make_budget({50 * MiB}, GiB));
  EXPECT_GT(count_mode(placement, PlacementMode::resident), 0u);
  EXPECT_GT(count_mode(placement, PlacementMode::streamed), 0u);
  EXPECT_NE(placement.explanation.find("predicted"), std::string::npos) << placement.explanation;
}

// Two components of equal size where only one fits beside the window: the one the job runs more often
// stays resident (an edit's transformer runs 2 x steps times, its text encoder twice).
TEST(Auto, KeepsResidentTheComponentTheJobRunsMostOften) {
  ModelGraph model = make_model(std::vector<std::uint64_t>(4, 10 * MiB), "text_encoder");
  model.components.push_back(make_model(std::vector<std::uint64_t>(4, 10 * MiB), "transformer").components[0]);
  const auto budget = make_budget({62 * MiB}, GiB);  // four units beside a two-slot window
  auto resident_units_of = [](const Placement& placement, const std::string& component) {
    std::size_t n = 0;
    for (const auto& u : placement.units)
      n += u.component == component && u.mode == PlacementMode::resident ? std::size_t{1} : std::size_t{0};
    return n;
  };
  for (const auto& [often, seldom] :
       {std::pair{"transformer", "text_encoder"}, std::pair{"text_encoder", "transformer"}}) {
    SCOPED_TRACE(std::string(often) + " runs 16 times, " + seldom + " twice");
    Workload job;
    job.components[often].passes = 16;
    job.components[seldom].passes = 2;
    const Placement placement = plan_with(AutoStrategy(), model, budget, {}, job);
    EXPECT_EQ(resident_units_of(placement, often), 4u) << placement.explanation;
    EXPECT_EQ(resident_units_of(placement, seldom), 0u) << placement.explanation;
    EXPECT_NE(placement.explanation.find("per job (text_encoder x"), std::string::npos) << placement.explanation;
  }
}

TEST(CostModel, AJobCountsEachComponentsPasses) {
  ModelGraph model = make_model({10 * MiB, 10 * MiB}, "text_encoder");
  model.components.push_back(make_model({10 * MiB, 10 * MiB}, "transformer").components[0]);
  const auto budget = make_budget({GiB}, GiB);
  const Placement placement = plan_with(SequentialOffloadStrategy(), model, budget);
  Workload job;
  job.components["transformer"].passes = 16;
  const Prediction one_each = predict(model, budget, placement, {});
  const Prediction edit = predict(model, budget, placement, job);
  EXPECT_DOUBLE_EQ(one_each.job_seconds, one_each.step_seconds);
  EXPECT_DOUBLE_EQ(edit.step_seconds, one_each.step_seconds);  // a pass of each is a pass of each
  EXPECT_NEAR(edit.job_seconds, one_each.components[0].step_seconds + 16 * one_each.components[1].step_seconds, 1e-12);
  EXPECT_EQ(edit.streamed_bytes_per_job,
            one_each.components[0].streamed_bytes + 16 * one_each.components[1].streamed_bytes);
  EXPECT_EQ(edit.components[1].passes, 16u);
}

// fp8 matmuls (--fp8-compute) run a unit's fp8 share of arithmetic at the GPU's fp8 rate where it has
// one; without fp8 tensor cores, or unasked, all of it runs at the bf16 rate.
TEST(CostModel, Fp8MatmulsShortenOnlyTheFp8ShareOnGpusThatHaveThem) {
  ModelGraph model = make_model({10 * MiB, 10 * MiB}, "transformer");
  for (auto& unit : model.components[0].units) {
    unit.flops_per_token = 4e9;
    unit.fp8_flops_per_token = 3e9;  // three quarters of it in Linears with fp8 weights
  }
  auto budget = make_budget({GiB}, GiB);
  budget.devices[0].compute_flops_per_s = 100e12;
  const Placement placement = plan_with(SequentialOffloadStrategy(), model, budget);
  Workload bf16;
  bf16.tokens = 8192;
  Workload fp8 = bf16;
  fp8.fp8_matmuls = true;
  const CostConstants& c = default_cost_constants();
  const double bf16_seconds = predict(model, budget, placement, bf16).components[0].compute_seconds;
  EXPECT_DOUBLE_EQ(predict(model, budget, placement, fp8).components[0].compute_seconds, bf16_seconds)
      << "a GPU without fp8 tensor cores multiplies in bf16";
  budget.devices[0].fp8_compute_flops_per_s = 200e12;
  const double fp8_seconds = predict(model, budget, placement, fp8).components[0].compute_seconds;
  const double saved_per_unit = 8192 * 3e9 * (1 / (100e12 * c.gpu_efficiency) - 1 / (200e12 * c.fp8_gpu_efficiency));
  EXPECT_NEAR(bf16_seconds - fp8_seconds, 2 * saved_per_unit, 1e-9);
  EXPECT_DOUBLE_EQ(predict(model, budget, placement, bf16).components[0].compute_seconds, bf16_seconds)
      << "unasked, fp8 weights are turned into bf16 at use";
}

// A block's element-wise passes (norms, modulations, residuals, the inputs' quantizations) are bound by
// the GPU's memory, not its arithmetic: their bytes count at the sustained memory bandwidth, the fp8
// count of them where fp8 matmuls run, the bf16 one where they cannot; where the bandwidth is unknown
// (a driver that reports no memory clock) they are not counted.
TEST(CostModel, ElementwisePassesCostTheirBytesAtTheGpusMemoryBandwidth) {
  ModelGraph model = make_model({10 * MiB, 10 * MiB}, "transformer");
  for (auto& unit : model.components[0].units) {
    unit.flops_per_token = 4e9;
    unit.fp8_flops_per_token = 3e9;
  }
  auto budget = make_budget({GiB}, GiB);
  DeviceInfo& gpu = budget.devices[0];
  gpu.compute_flops_per_s = 100e12;
  gpu.fp8_compute_flops_per_s = 200e12;
  gpu.memory_bytes_per_s = 1e12;
  const Placement placement = plan_with(SequentialOffloadStrategy(), model, budget);
  Workload bf16;
  bf16.tokens = 8192;
  bf16.batch = 2;
  Workload fp8 = bf16;
  fp8.fp8_matmuls = true;
  const auto compute_seconds = [&](const Workload& workload) {
    return predict(model, budget, placement, workload).components[0].compute_seconds;
  };
  const double bf16_arithmetic = compute_seconds(bf16), fp8_arithmetic = compute_seconds(fp8);
  for (auto& unit : model.components[0].units) {
    unit.elementwise_bytes_per_token = 100e3;
    unit.fp8_elementwise_bytes_per_token = 150e3;
  }
  const double sustained = 1e12 * default_cost_constants().memory_efficiency;
  const double passes_tokens = 2 * 2 * 8192.0;  // two units, a batch of two
  EXPECT_NEAR(compute_seconds(bf16) - bf16_arithmetic, passes_tokens * 100e3 / sustained, 1e-9);
  EXPECT_NEAR(compute_seconds(fp8) - fp8_arithmetic, passes_tokens * 150e3 / sustained, 1e-9);
  gpu.memory_bytes_per_s = 0.5e12;
  EXPECT_NEAR(compute_seconds(bf16) - bf16_arithmetic, 2 * passes_tokens * 100e3 / sustained, 1e-9)
      << "half the bandwidth, twice the time";
  gpu.fp8_compute_flops_per_s = 0;
  EXPECT_DOUBLE_EQ(compute_seconds(fp8), compute_seconds(bf16))
      << "without fp8 tensor cores the weights are multiplied in bf16, with bf16's passes";
  gpu.memory_bytes_per_s = 0;
  EXPECT_DOUBLE_EQ(compute_seconds(bf16), bf16_arithmetic) << "a GPU whose memory's bandwidth is unknown counts none";
}

// auto weighs a streamed unit's copy against its compute as the prediction counts it: under fp8 matmuls a
// unit whose Linears hold fp8 weights computes faster and hides less of its copy, so where only one of
// two equal components fits beside the window, the fp8 one stays resident.
TEST(Auto, KeepsResidentTheComponentWhoseFp8MatmulsHideLessOfItsCopy) {
  ModelGraph model = make_model(std::vector<std::uint64_t>(4, 10 * MiB), "text_encoder");
  model.components.push_back(make_model(std::vector<std::uint64_t>(4, 10 * MiB), "transformer").components[0]);
  auto budget = make_budget({62 * MiB}, GiB);  // four units beside a two-slot window
  DeviceInfo& gpu = budget.devices[0];
  gpu.compute_flops_per_s = 100e12;
  gpu.fp8_compute_flops_per_s = 2000e12;
  Workload job;
  job.tokens = 1000;
  job.fp8_matmuls = true;
  job.components["text_encoder"].passes = 2;
  job.components["transformer"].passes = 2;
  // Each unit's bf16 compute takes twice its copy: streamed in bf16, either component's copies hide.
  const CostConstants& c = default_cost_constants();
  const double copy_seconds = static_cast<double>(10 * MiB) / host_to_device_bytes_per_s(&gpu);
  const double flops_per_token = 2 * copy_seconds * gpu.compute_flops_per_s * c.gpu_efficiency / 1000;
  for (auto& component : model.components)
    for (auto& unit : component.units) {
      unit.flops_per_token = flops_per_token;
      if (component.name == "transformer") unit.fp8_flops_per_token = flops_per_token;  // all in fp8 Linears
    }
  auto resident_units_of = [](const Placement& placement, const std::string& component) {
    std::size_t n = 0;
    for (const auto& u : placement.units)
      n += u.component == component && u.mode == PlacementMode::resident ? std::size_t{1} : std::size_t{0};
    return n;
  };
  const Placement placement = plan_with(AutoStrategy(), model, budget, {}, job);
  EXPECT_EQ(resident_units_of(placement, "transformer"), 4u) << placement.explanation;
  EXPECT_EQ(resident_units_of(placement, "text_encoder"), 0u) << placement.explanation;
}

TEST(Auto, UsesTheCpuOnlyWhenAllowed) {
  auto budget = make_budget({}, GiB);
  EXPECT_THROW(plan_with(AutoStrategy(), make_model({10 * MiB}), budget), NoFitError);
  budget.allow_cpu_compute = true;
  const auto placement = planned_and_valid(AutoStrategy(), make_model({10 * MiB}), budget);
  EXPECT_EQ(placement.units[0].mode, PlacementMode::cpu);
}

TEST(Strategies, KeepTiedUnitsTogether) {
  auto model = make_model({40 * MiB, 10 * MiB, 10 * MiB, 0});
  model.components[0].units[0].tie_group = "tied:embed";
  model.components[0].units[3].tie_group = "tied:embed";
  // 60 MiB over two 45 MiB GPUs: the 40 MiB embedding and its head must land together.
  const auto budget = make_budget({45 * MiB, 45 * MiB}, GiB);
  const BalancedStrategy balanced;
  const MultiGpuStrategy multi;
  const AutoStrategy automatic;
  for (const PlacementStrategy* s : std::initializer_list<const PlacementStrategy*>{&balanced, &multi, &automatic}) {
    const auto placement = planned_and_valid(*s, model, budget);
    EXPECT_EQ(placement.units[0].storage, placement.units[3].storage) << placement.strategy;
  }
  const auto streamed = planned_and_valid(SequentialOffloadStrategy(), model, make_budget({90 * MiB}, GiB));
  EXPECT_EQ(streamed.units[0].storage, streamed.units[3].storage);
}
