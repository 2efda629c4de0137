#include "cli/planning_setup.hpp"

#include "budget/budget_options.hpp"
#include "cli/model_options.hpp"
#include "core/errors.hpp"
#include "core/text.hpp"
#include "devices/allocator_config.hpp"
#include "devices/host_memory.hpp"
#include "devices/simulated_runtime.hpp"
#include "logging/log.hpp"
#include "vramguard/byte_size.hpp"

namespace vramguard {
namespace {

std::optional<std::uint64_t> size_option(const Invocation& invocation, const std::string& name) {
  const auto text = invocation.text(name);
  if (!text) return std::nullopt;
  try {
    return parse_byte_size(*text);
  } catch (const InvalidByteSize& e) {
    throw UsageError("--" + name + ": " + e.what());
  }
}

}  // namespace

void declare_planning_options(CommandOptions& own) {
  declare_model_options(own);
  own.options.add_options()
      ("simulate", po::value<std::string>()->value_name("GPUS"),
       "plan for declared GPUs instead of real ones: a preset (rtx4080, rtx4090, a100-80gb, h100-80gb) or "
       "\"cuda:16GiB@25GB/s,cuda:16GiB@25GB/s\"")
      ("cpu-memory", po::value<std::string>()->value_name("SIZE"), "declare the host's available RAM instead of reading it")
      ("max-memory", po::value<std::string>()->value_name("CAPS"),
       "caps per device, accelerate's way: 0=12GB,1=20GiB,cpu=64GiB (a GPU cap bounds everything we hold there)")
      ("reserve", po::value<std::string>()->value_name("SIZE|CAPS"),
       "memory kept free for the system and other programs: one size for every GPU, or 0=4GB,cpu=8GB")
      ("headroom", po::value<std::string>()->value_name("SIZE"),
       "activation headroom per GPU (default: estimated from the architecture and --tokens)")
      ("pinned-memory", po::value<std::string>()->value_name("SIZE"),
       "cap on pinned host memory for streamed weights (default: the CPU's usable memory)")
      ("allow-cpu-compute", po::bool_switch(), "let strategies run units on the CPU")
      ("tokens", po::value<std::uint64_t>()->value_name("N"),
       "tokens per forward pass (default: each architecture's typical workload, e.g. a 1024x1024 edit)")
      ("option", po::value<std::vector<std::string>>()->value_name("KEY=VALUE"),
       "a strategy option (repeatable); NAME.KEY=VALUE for one strategy in compare")
      ("fallback", po::value<std::string>()->value_name("S1,S2,...")->default_value("balanced,auto,sequential-offload"),
       "the strategies the guard tries, in order, when a load runs out of memory")
      ("cuda-alloc-conf", po::value<std::string>()->value_name("CONF")->default_value("expandable_segments:True"),
       "PyTorch CUDA allocator settings used when PYTORCH_CUDA_ALLOC_CONF is not set")
      ("simulate-oom-at", po::value<std::uint64_t>()->value_name("N"),
       "with --simulate: the Nth allocation runs out of memory (to test the guard)")
      ("simulate-oom-above", po::value<std::string>()->value_name("SIZE"),
       "with --simulate: any GPU allocation taking our use past SIZE runs out of memory")
      ("simulate-other-process", po::value<std::string>()->value_name("GPU=SIZE@N"),
       "with --simulate: after our Nth allocation another program takes SIZE on GPU");
}

std::unique_ptr<DeviceRuntime> make_runtime(const Invocation& invocation, std::string* allocator) {
  if (const auto spec = invocation.text("simulate")) {
    SimulatedFaults faults;
    if (invocation.values.count("simulate-oom-at")) faults.fail_at_allocation = invocation.values["simulate-oom-at"].as<std::uint64_t>();
    faults.fail_above_bytes = size_option(invocation, "simulate-oom-above");
    if (const auto other = invocation.text("simulate-other-process")) {
      // GPU=SIZE@N: after our Nth allocation, another program takes SIZE on GPU.
      const auto eq = other->find('='), at = other->find('@');
      if (eq == std::string::npos || at == std::string::npos || at < eq)
        throw UsageError("--simulate-other-process '" + *other + "' is not GPU=SIZE@N", "e.g. 0=8GB@10");
      SimulatedFaults::OtherProcess process;
      try {
        process.gpu = std::stoi(other->substr(0, eq));
        process.bytes = parse_byte_size(other->substr(eq + 1, at - eq - 1));
        process.after_allocations = std::stoull(other->substr(at + 1));
      } catch (const std::exception& e) {
        throw UsageError("--simulate-other-process '" + *other + "': " + e.what(), "e.g. 0=8GB@10");
      }
      faults.other_process = process;
    }
    const std::uint64_t host = declared_cpu_memory(invocation).value_or(read_host_memory().available_bytes);
    if (allocator) *allocator = "simulated (exact accounting, no cache)";
    const bool keep_data = invocation.values.count("verify-data") && invocation.flag("verify-data");
    return std::make_unique<SimulatedRuntime>(*spec, host, faults, keep_data);
  }
  for (const char* fault : {"simulate-oom-at", "simulate-oom-above", "simulate-other-process"})
    if (invocation.values.count(fault)) throw UsageError(std::string("--") + fault + " works only with --simulate");
  const std::string setting = configure_cuda_allocator(invocation.text("cuda-alloc-conf").value_or(""));
  if (allocator) *allocator = setting;
  auto runtime = make_cuda_runtime();
  if (!runtime)
    throw UsageError("this build has no CUDA runtime (its libtorch is CPU-only), and no --simulate was given",
                     "plan for declared GPUs with --simulate rtx4080 (or a config such as configs/cpu-planning.ini), "
                     "or build against a CUDA libtorch (README)");
  return runtime;
}

std::optional<std::uint64_t> declared_cpu_memory(const Invocation& invocation) { return size_option(invocation, "cpu-memory"); }

BudgetOptions budget_options_from(const Invocation& invocation) {
  BudgetOptions options;
  if (const auto caps = invocation.text("max-memory")) options.max_memory = parse_device_sizes("max-memory", *caps);
  if (const auto reserve = invocation.text("reserve")) {
    if (reserve->find('=') != std::string::npos) options.reserve = parse_device_sizes("reserve", *reserve);
    else options.reserve_all = size_option(invocation, "reserve");
  }
  options.headroom = size_option(invocation, "headroom");
  options.pinned_cap = size_option(invocation, "pinned-memory");
  options.allow_cpu_compute = invocation.flag("allow-cpu-compute");
  return options;
}

PlanningSetup prepare_planning(const Invocation& invocation) {
  PlanningSetup setup;
  setup.model = inspect_from_options(invocation);
  if (invocation.values.count("tokens")) {
    setup.workload.tokens = invocation.values["tokens"].as<std::uint64_t>();
    if (setup.workload.tokens == 0) throw UsageError("--tokens must be at least 1");
  }
  auto runtime = make_runtime(invocation);
  setup.runtime = runtime->name();
  HostMemoryReading host = read_host_memory();
  if (const auto declared = declared_cpu_memory(invocation)) {
    host.total_bytes = host.available_bytes = *declared;
    host.cgroup_limit_bytes.reset();
  }
  const BudgetOptions options = budget_options_from(invocation);
  setup.budget = build_budget(runtime->probe_gpus(), cpu_device(host),
                              disk_device(setup.model.source.root.empty() ? "." : setup.model.source.root), options,
                              setup.model.graph, setup.workload);
  if (!options.max_memory.empty() && !setup.budget.cpu_cap_given)
    setup.notes.push_back("--max-memory has no cpu entry: the CPU budget is the available RAM (" +
                          format_bytes(setup.budget.cpu()->usable_bytes) + "), not disk");
  for (const auto* gpu : setup.budget.gpus())
    if (gpu->usable_bytes == 0)
      setup.notes.push_back(gpu->name + " has no usable memory after its cap, reserve and headroom");
  return setup;
}

StrategyOptions strategy_options_for(const Invocation& invocation, const std::string& strategy, bool bare_keys_apply) {
  StrategyOptions options;
  if (const auto it = invocation.strategy_options.find(strategy); it != invocation.strategy_options.end()) options = it->second;
  for (const auto& entry : invocation.list("option")) {
    const auto eq = entry.find('=');
    if (eq == std::string::npos || eq == 0)
      throw UsageError("--option '" + entry + "' is not KEY=VALUE", "e.g. --option prefetch=2, or --option balanced.low_zero=true");
    std::string key = entry.substr(0, eq);
    const std::string value = entry.substr(eq + 1);
    const auto dot = key.find('.');
    if (dot != std::string::npos) {
      if (key.substr(0, dot) != strategy) continue;
      key = key.substr(dot + 1);
    } else if (!bare_keys_apply) {
      throw UsageError("--option '" + entry + "' names no strategy", "with several strategies, write NAME.KEY=VALUE");
    }
    options[key] = value;
  }
  return options;
}

}  // namespace vramguard
