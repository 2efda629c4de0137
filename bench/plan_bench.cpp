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

DeviceBudget budget_for(const ModelGraph& graph, const Workload& workload) {
  SimulatedRuntime runtime("rtx4080");
  HostMemoryReading host;
  host.total_bytes = host.available_bytes = 64ULL << 30;
  BudgetOptions options;
  options.max_memory = {{"cuda:0", 12'000'000'000ULL}};
  options.reserve_all = 4'000'000'000ULL;
  return build_budget(runtime.probe_gpus(), cpu_device(host), disk_device("."), options, graph, workload);
}

ModelGraph synthesize(const std::string& arch, const std::string& preset) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("vramguard-bench-plan-" + arch + "-" + std::to_string(::getpid()));
  write_checkpoint(synthetic_architecture(arch, preset, false), dir, {});
  InspectOptions options;
  options.target_dtype = DType::BF16;
  ModelGraph graph = inspect_model(dir.string(), {}, options).graph;
  fs::remove_all(dir);
  return graph;
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
  const ModelGraph pipeline = synthesize("qwen-image-edit", "full");
  const DeviceBudget budget = budget_for(pipeline, workload);
  for (const auto& [name, strategy] : strategies) {
    const auto timing = bench::time_runs(21, [&] {
      const Placement placement = strategy->plan({pipeline, budget, workload, no_options});
      validate_plan(pipeline, budget, workload, placement, name);
    });
    bench::report("plan+validate " + name + ", qwen-image-edit full (" + std::to_string(pipeline.unit_count()) + " units)",
                  timing, 20);
  }
  const ModelGraph qwen7b = synthesize("qwen2", "7b");
  const DeviceBudget budget7b = budget_for(qwen7b, workload);
  const auto timing = bench::time_runs(21, [&] {
    strategies::BalancedStrategy().plan({qwen7b, budget7b, workload, no_options});
  });
  bench::report("balanced, Qwen2.5-7B shapes (" + std::to_string(qwen7b.unit_count()) + " units)", timing, 20);
  return 0;
}
