#include "engine/parallel_passes.hpp"

#include <algorithm>
#include <cstdlib>

#include "core/errors.hpp"
#include "core/text.hpp"
#include "devices/nvml_processes.hpp"
#include "engine/request_setup.hpp"
#include "engine/strategy_fit.hpp"

namespace vramguard {
namespace {

// How many GPUs the request may use, without creating a CUDA context: the simulated ones declared, or
// those NVML lists (as many as CUDA_VISIBLE_DEVICES leaves visible), less those --gpus leaves out;
// nullopt where NVML cannot say. Only a gate: the plans then probe the GPUs themselves.
std::optional<std::size_t> gpu_count_before_probing(const LoadRequest& request) {
  std::size_t count = 0;
  if (request.simulate) {
    count = make_runtime(request)->probe_gpus().size();
  } else {
    const auto gpus = nvml_gpus();
    if (!gpus) return std::nullopt;
    count = gpus->size();
    // CUDA sees only these (the process's environment: CUDA reads it from there too).
    if (const char* visible = std::getenv("CUDA_VISIBLE_DEVICES"))
      count = std::min(count, text::split(visible, ',').size());
  }
  if (request.budget.gpus) count = std::min(count, request.budget.gpus->size());
  return count;
}

}  // namespace

double component_job_seconds(const Prediction& prediction, const std::string& component) {
  for (const auto& c : prediction.components)
    if (c.component == component) return c.step_seconds * static_cast<double>(c.passes);
  return 0;
}

LoadRequest with_demands(LoadRequest request, std::optional<std::uint64_t> headroom_bytes, const Workload& work) {
  if (!request.budget.headroom) request.budget.headroom = headroom_bytes;
  for (const auto& [component, w] : work.components) request.workload.components[component] = w;
  return request;
}

ParallelPassesDemands halved_passes(const LoadRequest& request, const std::string& component) {
  ParallelPassesDemands demands;
  demands.component = component;
  demands.one_load_work = request.workload;
  demands.first_work = request.workload;
  const std::uint64_t passes = request.workload.passes(component);
  if (passes < 2)
    throw UsageError("--cfg-parallel " + component + ": --job gives it " + std::to_string(passes) +
                         " pass, and two loads run its passes two at once",
                     "give its passes in --job, e.g. --job " + component + "=100 for 50 steps of true CFG");
  ComponentWork& work = demands.first_work.components[component];
  work = request.workload.components.at(component);
  work.passes = (passes + 1) / 2;
  return demands;
}

ParallelPassesChoice choose_parallel_passes(const LoadRequest& base, const ParallelPassesDemands& demands,
                                            ParallelPassesMode mode) {
  ParallelPassesChoice choice;
  if (mode == ParallelPassesMode::off) {
    choice.why = "--cfg-parallel off";
    return choice;
  }
  const std::string option = "--cfg-parallel on";
  auto too_few = [&](std::size_t count) {
    const std::string why = "CFG-parallel needs two GPUs, and the load may use " + std::to_string(count);
    if (mode == ParallelPassesMode::on)
      throw UsageError(option + ": " + why, "leave --cfg-parallel out (or auto), or give the load a second GPU");
    choice.why = why;
    return choice;
  };
  if (const auto count = gpu_count_before_probing(base); count && *count < 2) return too_few(*count);

  const LoadRequest one = with_demands(base, demands.one_load_headroom_bytes, demands.one_load_work);
  const PlannedRequest one_plan = plan_request(one);
  std::vector<int> gpus;
  for (const auto* gpu : one_plan.setup.budget.gpus()) gpus.push_back(gpu->id.index);
  if (gpus.size() < 2) return too_few(gpus.size());
  choice.one_load_seconds = component_job_seconds(one_plan.prediction, demands.component);

  LoadRequest first = with_demands(base, demands.first_headroom_bytes, demands.first_work);
  first.budget.gpus = std::vector<int>(gpus.begin(), gpus.end() - 1);
  LoadRequest second = base;
  second.budget.gpus = std::vector<int>{gpus.back()};
  second.inspect.components = {demands.component};
  if (!second.budget.headroom) second.budget.headroom = demands.second_headroom_bytes;
  second.workload.components.clear();
  if (const auto it = demands.first_work.components.find(demands.component); it != demands.first_work.components.end())
    second.workload.components[demands.component] = it->second;
  double first_seconds = 0, second_seconds = 0;
  try {
    const PlannedRequest first_plan = plan_request(first);
    first_seconds = component_job_seconds(first_plan.prediction, demands.component);
    // Both loads hold their streamed weights in the same host memory: the second plans with what the
    // first leaves of it.
    const DeviceInfo* cpu = first_plan.setup.budget.find(DeviceId::host());
    const DevicePrediction* held = first_plan.prediction.find(DeviceId::host());
    if (cpu != nullptr && held != nullptr)
      second.budget.max_memory[DeviceId::host()] =
          cpu->usable_bytes > held->resident_bytes ? cpu->usable_bytes - held->resident_bytes : 0;
    second_seconds = component_job_seconds(plan_request(second).prediction, demands.component);
  } catch (const JobError& e) {  // no placement fits one of the GPUs (the explained NoFitError)
    if (mode == ParallelPassesMode::on)
      throw UsageError(option + ": the " + demands.component + " does not fit twice: " + e.what(), e.hint());
    choice.why = "CFG-parallel does not fit (" + std::string(e.what()) + ")";
    return choice;
  }
  choice.parallel_seconds = std::max(first_seconds, second_seconds);
  const std::string weighed =
      "the " + demands.component + "'s passes predicted at " + format_seconds(choice.parallel_seconds) +
      " over the job on cuda:" + std::to_string(gpus.front()) + " and cuda:" + std::to_string(gpus.back()) +
      " at once, against " + format_seconds(choice.one_load_seconds) + " in one load";
  choice.parallel =
      mode == ParallelPassesMode::on || choice.parallel_seconds < choice.one_load_seconds * (1 - kStrategyTieFraction);
  choice.why = (choice.parallel ? "CFG-parallel: " : "one load: ") + weighed +
               (mode == ParallelPassesMode::on ? " (--cfg-parallel on)" : "");
  if (choice.parallel) {
    choice.first = std::move(first);
    choice.second = std::move(second);
  }
  return choice;
}

}  // namespace vramguard
