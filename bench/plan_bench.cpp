// Planning time per strategy (plan + validate), headers already read: the full Qwen-Image-Edit-shaped
// pipeline on a simulated RTX 4080 with configs/rtx4080-16gb.ini's budget (target: under 20 ms each),
// and balanced on the Qwen2.5-7B shapes, to set beside accelerate's infer_auto_device_map.
#include <filesystem>
#include <memory>

#include "auto/auto_strategy.hpp"
#include "balanced/balanced_strategy.hpp"
#include "bench/bench_support.hpp"
#include "budget/budget_options.hpp"
#include "devices/host_memory.hpp"
#include "devices/simulated_runtime.hpp"
#include "guard/plan_validator.hpp"
#include "model/model_inspector.hpp"
#include "multi_gpu/multi_gpu_strategy.hpp"
#include "sequential_offload/sequential_offload_strategy.hpp"
#include "synth/checkpoint_writer.hpp"

using namespace vramguard;

namespace {

// configs/rtx4080-16gb.ini's budget: 12 GB cap, 4 GB reserve, 64 GiB of RAM.
DeviceBudget budget_for(const InspectedModel& model, const Workload& workload) {
  SimulatedRuntime runtime("rtx4080");
  BudgetOptions options;
  options.max_memory = {{DeviceId::gpu(0), 12'000'000'000ULL}};
  options.reserve_all = 4'000'000'000ULL;
  return probe_budget(runtime, model, options, workload, 64ULL << 30);
}

InspectedModel synthesize(const std::string& arch, const std::string& preset) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("vramguard-bench-plan-" + arch + "-" + std::to_string(::getpid()));
  write_checkpoint(synthetic_architecture(arch, preset, false), dir, {});
  InspectOptions options;
  options.target_dtype = DType::BF16;
  InspectedModel model = inspect_model(dir.string(), {}, options);
  fs::remove_all(dir);
  return model;
}

}  // namespace

int main() {
  const Workload workload;
  const StrategyOptions no_options;
  const std::vector<std::pair<std::string, std::shared_ptr<PlacementStrategy>>> strategies = {
      {"balanced", std::make_shared<strategies::BalancedStrategy>()},
      {"auto", std::make_shared<strategies::AutoStrategy>()},
      {"sequential-offload", std::make_shared<strategies::SequentialOffloadStrategy>()},
      {"multi-gpu", std::make_shared<strategies::MultiGpuStrategy>()},
  };
  const InspectedModel inspected = synthesize("qwen-image-edit", "full");
  const ModelGraph& pipeline = inspected.graph;
  const DeviceBudget budget = budget_for(inspected, workload);
  for (const auto& [name, strategy] : strategies) {
    const auto timing = bench::time_runs(21, [&] {
      const Placement placement = strategy->plan({pipeline, budget, workload, no_options});
      validate_plan(pipeline, budget, workload, placement, name);
    });
    bench::report(
        "plan+validate " + name + ", qwen-image-edit full (" + std::to_string(pipeline.unit_count()) + " units)",
        timing, 20);
  }
  const InspectedModel inspected7b = synthesize("qwen2", "7b");
  const ModelGraph& qwen7b = inspected7b.graph;
  const DeviceBudget budget7b = budget_for(inspected7b, workload);
  const auto timing = bench::time_runs(21, [&] {
    strategies::BalancedStrategy().plan({qwen7b, budget7b, workload, no_options});
  });
  bench::report("balanced, Qwen2.5-7B shapes (" + std::to_string(qwen7b.unit_count()) + " units)", timing, 20);
  return 0;
}
