#include "engine/request_setup.hpp"

#include "core/errors.hpp"
#include "core/stop_signal.hpp"
#include "core/text.hpp"
#include "devices/allocator_config.hpp"
#include "devices/host_memory.hpp"
#include "devices/simulated_runtime.hpp"
#include "guard/plan_validator.hpp"

namespace vramguard {

InspectedModel inspect_requested(const LoadRequest& request) {
  InspectedModel model = inspect_model(request.model, request.environment, request.inspect);
  // --job's components, now that the model says which it has.
  for (const auto& [name, work] : request.workload.components) {
    if (model.graph.find_component(name) != nullptr) continue;
    std::vector<std::string> names;
    for (const auto& c : model.graph.components) names.push_back(c.name);
    throw UsageError(
        "--job names '" + name + "', which is not a component of the model" + text::did_you_mean(name, names),
        "its components: " + text::join(names, ", "));
  }
  return model;
}

std::unique_ptr<DeviceRuntime> make_runtime(const LoadRequest& request, bool keep_data, std::string* allocator) {
  if (request.simulate) {
    const std::uint64_t host = request.cpu_memory_bytes.value_or(read_host_memory().available_bytes);
    if (allocator) *allocator = "simulated (exact accounting, no cache)";
    return std::make_unique<SimulatedRuntime>(request.simulate->spec, host, request.simulate->faults, keep_data);
  }
  const std::string setting = configure_cuda_allocator(request.cuda_alloc_conf);
  if (allocator) *allocator = setting;
  auto runtime = make_cuda_runtime();
  if (!runtime)
    throw UsageError("this build has no CUDA runtime (its libtorch is CPU-only), and no --simulate was given",
                     "plan for declared GPUs with --simulate rtx4080 (or a config such as configs/cpu-planning.ini), "
                     "or build against a CUDA libtorch (README)");
  return runtime;
}

PluginRegistry discover_plugins(const PluginSearch& search) {
  DiscoveryOptions options;
  options.allow_insecure = search.allow_insecure;
  options.allow_duplicates = search.allow_duplicates;
  return PluginRegistry::discover(
      plugin_search_path(search.dirs, search.env_path, search.config_dirs, builtin_plugin_dir()), options);
}

GuardOptions guard_options_from(const LoadRequest& request, const PluginRegistry& registry) {
  GuardOptions options;
  options.strategy = request.strategy;
  (void)registry.create(options.strategy);  // an unknown name is a usage error before anything loads
  options.fallback = request.fallback;
  for (const auto& name : options.fallback) (void)registry.create(name);
  options.max_attempts = request.max_attempts;
  options.budget = request.budget;
  options.workload = request.planned_workload();
  options.verify_data = request.verify_data;
  options.cpu_memory = request.cpu_memory_bytes;
  options.stream_source = request.stream_source;
  options.upload_path = request.upload_path;
  // A copy: the guard may outlive the request it was made from. Bare --option keys are the first strategy's.
  options.strategy_options = [request](const std::string& name) {
    return request.strategy_options_for(name, name == request.strategy);
  };
  return options;
}

DeviceBudget probe_budget_for(DeviceRuntime& runtime, const InspectedModel& model, const LoadRequest& request,
                              std::vector<std::string>* notes) {
  return probe_budget(runtime, model, request.budget, request.planned_workload(), request.cpu_memory_bytes, notes);
}

PlanningSetup prepare_planning(const LoadRequest& request) {
  PlanningSetup setup;
  setup.model = inspect_requested(request);
  setup.workload = request.planned_workload();
  auto runtime = make_runtime(request);
  setup.runtime = runtime->name();
  setup.notes = setup.model.notes;
  setup.budget = probe_budget_for(*runtime, setup.model, request, &setup.notes);
  return setup;
}

PlannedRequest plan_request(const LoadRequest& request) {
  PlannedRequest planned;
  planned.setup = prepare_planning(request);
  const PluginRegistry registry = discover_plugins(request.plugins);
  const StrategyInstance strategy = registry.create(request.strategy);
  const PlanningSetup& setup = planned.setup;
  try {
    planned.placement = strategy.plan(
        {setup.model.graph, setup.budget, setup.workload, request.strategy_options_for(request.strategy, true)},
        &stop_flag());
  } catch (const NoFitError& e) {
    throw explain_no_fit(e, setup.budget, setup.workload);
  }
  planned.prediction =
      validate_plan(setup.model.graph, setup.budget, setup.workload, planned.placement, request.strategy);
  return planned;
}

}  // namespace vramguard
