// Budgets: usable = min(cap − context, free − reserve) − adapters − headroom, accelerate's cap syntax, simulated GPUs.
#include <gtest/gtest.h>

#include <algorithm>

#include "budget/budget_options.hpp"
#include "vramguard/option_values.hpp"
#include "core/errors.hpp"
#include "devices/host_memory.hpp"
#include "devices/simulated_runtime.hpp"
#include "vramguard/cost_model.hpp"
#include "support/planning_builders.hpp"

using namespace vramguard;
using namespace vramguard::testing;

TEST(Budget, UsableIsTheCapOrFreeLessReserveLessHeadroom) {
  DeviceInfo gpu = make_gpu(0, 0);
  gpu.free_bytes = 16 * GiB;
  gpu.context_bytes = GiB / 2;
  gpu.reserve_bytes = 4 * GiB;
  gpu.headroom_bytes = GiB;
  gpu.update_usable();
  EXPECT_EQ(gpu.usable_bytes, 11 * GiB);  // free − reserve − headroom
  gpu.cap_bytes = 10 * GiB;
  gpu.update_usable();
  EXPECT_EQ(gpu.usable_bytes, 10 * GiB - GiB / 2 - GiB);  // the cap bounds the context too
  gpu.reserve_bytes = 20 * GiB;
  gpu.update_usable();
  EXPECT_EQ(gpu.usable_bytes, 0u);
}

TEST(Budget, AdaptersAreHeldOnEveryGpuBesideTheWeightsWhateverBindsTheLimit) {
  DeviceInfo gpu = make_gpu(0, 0);
  gpu.free_bytes = 16 * GiB;
  gpu.reserve_bytes = 4 * GiB;
  gpu.headroom_bytes = GiB;
  gpu.adapter_bytes = GiB / 2;
  gpu.update_usable();
  EXPECT_EQ(gpu.usable_bytes, 16 * GiB - 4 * GiB - GiB / 2 - GiB);
  gpu.cap_bytes = 10 * GiB;
  gpu.update_usable();
  EXPECT_EQ(gpu.usable_bytes, 10 * GiB - GiB / 2 - GiB);

  SimulatedRuntime runtime("rtx4080");
  BudgetOptions options;
  options.adapter_bytes = 300'000'000ULL;
  std::vector<std::string> notes;
  const DeviceBudget budget =
      build_budget(runtime.probe_gpus(), cpu_device({}), std::nullopt, options, make_model({MiB}), {}, &notes);
  EXPECT_EQ(budget.gpus().front()->adapter_bytes, 300'000'000ULL);
  EXPECT_EQ(budget.cpu()->adapter_bytes, 0u);  // a CPU-computed unit's adapters are in host memory's noise
  EXPECT_NE(
      std::find(notes.begin(), notes.end(),
                "cuda:0 keeps 300.00 MB (286.10 MiB) for adapters beside the checkpoint's weights (--adapter-memory)"),
      notes.end());
}

TEST(Budget, MaxMemoryUsesAcceleratesKeys) {
  const DeviceSizes sizes("0=12GB, cuda:1=20GiB,cpu=64GiB");
  EXPECT_EQ(sizes.bytes.at(kGpu0), 12'000'000'000u);
  EXPECT_EQ(sizes.bytes.at(kGpu1), 20 * GiB);
  EXPECT_EQ(sizes.bytes.at(kCpu), 64 * GiB);
  EXPECT_THROW(DeviceSizes("gpu0=12GB"), InvalidOptionValue);
  EXPECT_THROW(DeviceSizes("0:12GB"), InvalidOptionValue);
  EXPECT_THROW(DeviceSizes("0=12gb"), InvalidOptionValue);
  // Back to text and read again: the same caps (how the runtime API hands typed values on).
  EXPECT_EQ(DeviceSizes(option_text(sizes)), sizes);
}

TEST(Budget, DeviceSizesRefuseWhatTheyWouldOtherwiseIgnore) {
  // Each of these was once accepted and silently meant nothing.
  for (const char* bad :
       {"", "   ", ",,,", "0=1GB,,cpu=2GB", "0=1GB,0=2GB", "0=1GB,cuda:0=2GB", "disk=1TB", "0=-1", "99999=1GB"}) {
    try {
      DeviceSizes sizes(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const InvalidOptionValue& e) {
      EXPECT_FALSE(e.hint().empty() && std::string(e.what()).find("device") == std::string::npos) << e.what();
    }
  }
  try {
    DeviceSizes sizes("disk=1TB");
    ADD_FAILURE() << "capped disk";
  } catch (const InvalidOptionValue& e) {
    EXPECT_NE(std::string(e.what()).find("cannot cap disk"), std::string::npos) << e.what();
  }
}

TEST(Budget, BuildAppliesCapsReservesAndHeadroomFromTheWorkload) {
  SimulatedRuntime runtime("rtx4080");
  HostMemoryReading host{64 * GiB, 60 * GiB, std::nullopt};
  BudgetOptions options;
  options.max_memory = {{kGpu0, 12'000'000'000ULL}};
  options.reserve_all = 4'000'000'000ULL;
  const ModelGraph model = make_model({MiB});
  Workload workload;
  workload.tokens = 1000;
  const DeviceBudget budget =
      build_budget(runtime.probe_gpus(), cpu_device(host), disk_device("."), options, model, workload);
  const DeviceInfo& gpu = *budget.gpus().front();
  EXPECT_EQ(gpu.headroom_bytes,
            1000u * 1024u + default_cost_constants().workspace_bytes);  // activations for 1000 tokens + workspace
  EXPECT_EQ(gpu.usable_bytes, 12'000'000'000ULL - gpu.context_bytes - gpu.headroom_bytes);
  EXPECT_FALSE(budget.cpu_cap_given);
  EXPECT_EQ(budget.cpu()->usable_bytes, 60 * GiB);
  EXPECT_EQ(budget.pinned_cap_bytes, 60 * GiB);
  EXPECT_EQ(budget.disk()->usable_bytes, UINT64_MAX);
}

TEST(Budget, ACachingAllocatorsFragmentsAreInTheHeadroom) {
  SimulatedRuntime runtime("rtx4080");
  BudgetOptions options;
  options.max_memory = {{kGpu0, 12'000'000'000ULL}};
  options.reserve_all = 0;
  options.headroom = 1'000'000'000ULL;
  std::vector<std::string> notes;
  const DeviceBudget budget = build_budget(runtime.probe_gpus(), cpu_device({}), std::nullopt, options,
                                           make_model({MiB}), {}, &notes, /*cache_slack_fraction=*/0.15);
  const DeviceInfo& gpu = *budget.gpus().front();
  EXPECT_EQ(gpu.headroom_bytes, 1'150'000'000ULL);
  EXPECT_EQ(gpu.usable_bytes, 12'000'000'000ULL - gpu.context_bytes - 1'150'000'000ULL);
  EXPECT_NE(std::find_if(notes.begin(), notes.end(),
                         [](const std::string& n) { return n.find("caching allocator") != std::string::npos; }),
            notes.end());
}

TEST(Budget, ACapOnADeviceTheMachineLacksIsRefused) {
  SimulatedRuntime runtime("rtx4080");
  BudgetOptions options;
  options.max_memory = {{DeviceId::gpu(3), GiB}};
  EXPECT_THROW(build_budget(runtime.probe_gpus(), cpu_device({}), std::nullopt, options, make_model({MiB}), {}),
               UsageError);
}

TEST(SimulatedRuntime, PresetsDeclareRealCards) {
  SimulatedRuntime runtime("rtx4080,h100-80gb");
  const auto gpus = runtime.probe_gpus();
  ASSERT_EQ(gpus.size(), 2u);
  EXPECT_EQ(gpus[0].name(), "cuda:0");
  EXPECT_FALSE(gpus[0].context_measured);
  EXPECT_EQ(gpus[0].total_bytes, 16 * GiB);
  EXPECT_EQ(gpus[0].host_to_device_bytes_per_s, 25e9);
  EXPECT_EQ(gpus[0].free_bytes, gpus[0].total_bytes - gpus[0].context_bytes);
  EXPECT_EQ(gpus[1].name(), "cuda:1");
  EXPECT_TRUE(gpus[1].simulated);
}

TEST(SimulatedRuntime, SpecsDeclareSizeAndBandwidth) {
  SimulatedRuntime runtime("cuda:16GiB@25GB/s, cuda:8GB");
  const auto gpus = runtime.probe_gpus();
  ASSERT_EQ(gpus.size(), 2u);
  EXPECT_EQ(gpus[0].total_bytes, 16 * GiB);
  EXPECT_EQ(gpus[0].host_to_device_bytes_per_s, 25e9);
  EXPECT_EQ(gpus[1].total_bytes, 8'000'000'000u);
}

TEST(SimulatedRuntime, BadSpecsNameTheEntryAndTheForms) {
  for (const char* bad : {"rtx4008", "cuda:16gb", "cuda:16GiB@25GB", "gpu:16GiB", "", "cuda:0", "cuda:16GiB@0GB/s",
                          "rtx4080,,rtx4080", "cuda:16GiB@-1GB/s"}) {
    try {
      SimulatedRuntime runtime(bad);
      ADD_FAILURE() << "accepted " << bad;
    } catch (const UsageError& e) {
      EXPECT_FALSE(std::string(e.what()).empty());
    }
  }
  try {
    SimulatedRuntime runtime("rtx4008");
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean 'rtx4080'?"), std::string::npos) << e.what();
  }
}

TEST(HostMemory, ReadsThisMachinesRam) {
  const auto reading = read_host_memory();
  EXPECT_GT(reading.total_bytes, 0u);
  EXPECT_GT(reading.available_bytes, 0u);
  EXPECT_LE(reading.available_bytes, reading.total_bytes);
}
