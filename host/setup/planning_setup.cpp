#include "setup/planning_setup.hpp"

#include "budget/budget_options.hpp"
#include "setup/model_options.hpp"
#include "core/errors.hpp"
#include "core/process_info.hpp"
#include "core/text.hpp"
#include "devices/allocator_config.hpp"
#include "devices/host_memory.hpp"
#include "devices/nvml_processes.hpp"
#include "devices/simulated_runtime.hpp"
#include "logging/log.hpp"
#include "vramguard/byte_size.hpp"
#include "vramguard/plan_rules.hpp"

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

bool declared(const Invocation& invocation, const char* option) { return invocation.values.count(option) > 0; }

// GPU=SIZE@N, the form of the options that put another program's memory on a simulated GPU: `what`
// names N in messages ("the allocation count", "the pid", "the seconds").
struct GpuSizeAt {
  int gpu = 0;
  std::uint64_t bytes = 0;
  std::string at;
};

GpuSizeAt gpu_size_at(const std::string& option, const std::string& text, const std::string& example) {
  const auto eq = text.find('='), at = text.find('@');
  if (eq == std::string::npos || at == std::string::npos || at < eq)
    throw UsageError("--" + option + " '" + text + "' is not GPU=SIZE@" + (option == "simulate-usage" ? "SECONDS" : option == "simulate-process" ? "PID" : "N"), example);
  const auto gpu = DeviceId::parse(text.substr(0, eq), true);
  if (!gpu || !gpu->is_gpu()) throw UsageError("--" + option + " '" + text + "' names no GPU before '='", example);
  GpuSizeAt out;
  out.gpu = gpu->index;
  out.at = text.substr(at + 1);
  try {
    out.bytes = parse_byte_size(text.substr(eq + 1, at - eq - 1));
  } catch (const InvalidByteSize& e) {
    throw UsageError("--" + option + " '" + text + "': " + e.what(), example);
  }
  return out;
}

bool whole_number(const std::string& text) {
  return !text.empty() && text.size() <= 12 && std::all_of(text.begin(), text.end(), ::isdigit);
}

// --simulate-other-process GPU=SIZE@N: after our Nth allocation, another program takes SIZE on GPU.
SimulatedFaults::OtherProcess other_process(const std::string& text) {
  const std::string example = "e.g. --simulate-other-process 0=8GB@10";
  const GpuSizeAt parsed = gpu_size_at("simulate-other-process", text, example);
  if (!whole_number(parsed.at))
    throw UsageError("--simulate-other-process '" + text + "': the allocation count after '@' must be a whole number", example);
  SimulatedFaults::OtherProcess process;
  process.gpu = parsed.gpu;
  process.after_allocations = std::stoull(parsed.at);
  process.bytes = parsed.bytes;
  return process;
}

// --simulate-process GPU=SIZE@PID: the real process PID holds SIZE on GPU while it lives.
std::pair<int, GpuProcess> simulated_process(const std::string& text) {
  const std::string example = "e.g. --simulate-process 0=6GB@12345 (a process that exists)";
  const GpuSizeAt parsed = gpu_size_at("simulate-process", text, example);
  if (!whole_number(parsed.at) || std::stoull(parsed.at) == 0 || std::stoull(parsed.at) > 4194304)
    throw UsageError("--simulate-process '" + text + "': the pid after '@' must be a process id", example);
  const auto pid = static_cast<std::uint32_t>(std::stoull(parsed.at));
  if (!process_alive(static_cast<pid_t>(pid)))
    throw UsageError("--simulate-process '" + text + "': there is no process " + parsed.at, example);
  return {parsed.gpu, GpuProcess{pid, "", "", parsed.bytes, std::nullopt, ""}};
}

// --simulate-pcie GPU=GENxWIDTH: the GPU's link runs at that PCIe generation and width.
SimulatedFaults::Link simulated_link(const std::string& text) {
  const std::string example = "e.g. --simulate-pcie 0=4x8 (generation 4, 8 lanes)";
  const auto eq = text.find('='), x = text.find('x', eq == std::string::npos ? 0 : eq);
  if (eq == std::string::npos || x == std::string::npos) throw UsageError("--simulate-pcie '" + text + "' is not GPU=GENxWIDTH", example);
  const auto gpu = DeviceId::parse(text.substr(0, eq), true);
  if (!gpu || !gpu->is_gpu()) throw UsageError("--simulate-pcie '" + text + "' names no GPU before '='", example);
  const std::string generation = text.substr(eq + 1, x - eq - 1), width = text.substr(x + 1);
  if (!whole_number(generation) || !whole_number(width) || std::stoul(generation) < 1 || std::stoul(generation) > 6 ||
      std::stoul(width) < 1 || std::stoul(width) > 32)
    throw UsageError("--simulate-pcie '" + text + "': the generation must be 1-6 and the width 1-32 lanes", example);
  return {gpu->index, static_cast<unsigned int>(std::stoul(generation)), static_cast<unsigned int>(std::stoul(width))};
}

// --simulate-usage GPU=SIZE@SECONDS: from SECONDS after start, other programs hold SIZE on GPU;
// GPU=SIZE@file:PATH: from when PATH exists.
SimulatedFaults::UsageChange usage_change(const std::string& text) {
  const std::string example = "e.g. --simulate-usage 0=14GB@3 (14 GB held on cuda:0 from 3 s on), or 0=14GB@file:/tmp/go (once that file exists)";
  const GpuSizeAt parsed = gpu_size_at("simulate-usage", text, example);
  if (text::starts_with(parsed.at, "file:")) {
    if (parsed.at.size() == 5) throw UsageError("--simulate-usage '" + text + "': name a file after 'file:'", example);
    SimulatedFaults::UsageChange change{parsed.gpu, 0, parsed.bytes, {}};
    change.once_exists = parsed.at.substr(5);
    return change;
  }
  double seconds = -1;
  try {
    std::size_t used = 0;
    seconds = std::stod(parsed.at, &used);
    if (used != parsed.at.size()) seconds = -1;
  } catch (const std::exception&) {
    seconds = -1;
  }
  if (!(seconds >= 0 && seconds <= 86400))
    throw UsageError("--simulate-usage '" + text + "': the seconds after '@' must be a number from 0 to 86400", example);
  return {parsed.gpu, seconds, parsed.bytes, {}};
}

}  // namespace

void declare_planning_options(CommandOptions& own) {
  declare_model_options(own);
  own.options.add_options()
      ("simulate", po::value<std::string>()->value_name("GPUS"),
       "plan for declared GPUs instead of real ones: a preset (rtx4080, rtx4090, a100-80gb, h100-80gb, h200) or "
       "\"cuda:16GiB@25GB/s,cuda:16GiB@25GB/s\"")
      ("cpu-memory", po::value<std::string>()->value_name("SIZE"), "declare the host's available RAM instead of reading it")
      ("max-memory", po::value<std::string>()->value_name("CAPS"),
       "caps per device, accelerate's way: 0=12GB,1=20GiB,cpu=64GiB (a GPU cap bounds everything we hold there)")
      ("reserve", po::value<std::string>()->value_name("SIZE|CAPS"),
       "memory kept free for the system and other programs: one size for every GPU, or 0=4GB,cpu=8GB "
       "(default: 5 % of each GPU's memory, from 512 MiB to 2 GiB; 0 keeps nothing free)")
      ("headroom", po::value<std::string>()->value_name("SIZE"),
       "activation headroom per GPU (default: estimated from the architecture and --tokens)")
      ("pinned-memory", po::value<std::string>()->value_name("SIZE"),
       "cap on pinned host memory for streamed weights (default: the CPU's usable memory)")
      ("allow-cpu-compute", po::bool_switch(), "let strategies run units on the CPU")
      ("tokens", po::value<std::string>()->value_name("N"),
       "tokens per forward pass (default: each architecture's typical workload, e.g. a 1024x1024 edit)")
      ("batch", po::value<std::string>()->value_name("B"), "sequences per forward pass (default 1)")
      ("option", po::value<std::vector<std::string>>()->value_name("KEY=VALUE"),
       "a strategy option (repeatable); NAME.KEY=VALUE for one strategy in compare");
}

void declare_simulated_neighbours(CommandOptions& own) {
  own.options.add_options()
      ("simulate-process", po::value<std::vector<std::string>>()->value_name("GPU=SIZE@PID"),
       "with --simulate: the real process PID holds SIZE on GPU while it lives (repeatable)")
      ("simulate-usage", po::value<std::vector<std::string>>()->value_name("GPU=SIZE@SECONDS"),
       "with --simulate: from SECONDS after start, other programs hold SIZE on GPU (repeatable; a timeline); "
       "@file:PATH instead of SECONDS: from when the file PATH exists")
      ("simulate-memlock", po::value<std::string>()->value_name("SIZE"),
       "with --simulate: the memlock limit to report, in place of this process's own")
      ("simulate-pcie", po::value<std::vector<std::string>>()->value_name("GPU=GENxWIDTH"),
       "with --simulate: the GPU's link runs at PCIe generation GEN and WIDTH lanes, e.g. 0=4x8 (repeatable)")
      ("simulate-mig", po::value<std::vector<std::string>>()->value_name("GPU"), "with --simulate: MIG is enabled on GPU (repeatable)");
}

void declare_guard_options(CommandOptions& own) {
  declare_simulated_neighbours(own);
  own.options.add_options()
      ("fallback", po::value<std::string>()->value_name("S1,S2,...")->default_value("balanced,auto,sequential-offload"),
       "the strategies the guard tries, in order, when a load runs out of memory")
      ("max-attempts", po::value<std::string>()->value_name("N")->default_value("4"), "attempts at most, the first included (1-16)")
      ("cuda-alloc-conf", po::value<std::string>()->value_name("CONF")->default_value("expandable_segments:True"),
       "PyTorch CUDA allocator settings used when PYTORCH_CUDA_ALLOC_CONF is not set")
      ("stream-from", po::value<std::string>()->value_name("SOURCE")->default_value("auto"),
       "how weights streamed from host memory reach the GPU: auto (the cost model's choice, from the measured rates), "
       "registered (the mapped checkpoint registered with the driver), pinned (copied into pinned memory at load), "
       "page-cache (read through the staging ring at run time)")
      ("upload-from", po::value<std::string>()->value_name("PATH")->default_value("staged"),
       "how resident weights reach the GPU at load: staged (read into pinned buffers by reader threads, then "
       "copied: the fastest measured), registered (the checkpoint's page-cache pages registered with the driver "
       "and copied by DMA, no staging copy), mixed (a quarter of the readers register, the rest stage)")
      ("simulate-oom-at", po::value<std::string>()->value_name("N"),
       "with --simulate: the Nth allocation runs out of memory (to test the guard)")
      ("simulate-oom-above", po::value<std::string>()->value_name("SIZE"),
       "with --simulate: any GPU allocation taking our use past SIZE runs out of memory")
      ("simulate-oom-at-step", po::value<std::string>()->value_name("N"),
       "with --simulate: the Nth step of a run runs out of memory once")
      ("simulate-other-process", po::value<std::string>()->value_name("GPU=SIZE@N"),
       "with --simulate: after our Nth allocation another program takes SIZE on GPU");
}

std::unique_ptr<DeviceRuntime> make_runtime(const Invocation& invocation, bool keep_data, std::string* allocator) {
  if (const auto spec = invocation.text("simulate")) {
    SimulatedFaults faults;
    if (declared(invocation, "simulate-oom-at")) faults.fail_at_allocation = invocation.number("simulate-oom-at", 1, UINT64_MAX / 2);
    if (declared(invocation, "simulate-oom-at-step")) faults.fail_at_step = invocation.number("simulate-oom-at-step", 1, UINT64_MAX / 2);
    if (declared(invocation, "simulate-oom-above")) faults.fail_above_bytes = size_option(invocation, "simulate-oom-above");
    if (const auto other = declared(invocation, "simulate-other-process") ? invocation.text("simulate-other-process") : std::nullopt)
      faults.other_process = other_process(*other);
    if (declared(invocation, "simulate-process"))
      for (const auto& entry : invocation.list("simulate-process")) faults.processes_at_start.push_back(simulated_process(entry));
    if (declared(invocation, "simulate-usage"))
      for (const auto& entry : invocation.list("simulate-usage")) faults.usage.push_back(usage_change(entry));
    if (declared(invocation, "simulate-pcie"))
      for (const auto& entry : invocation.list("simulate-pcie")) faults.links.push_back(simulated_link(entry));
    if (declared(invocation, "simulate-mig"))
      for (const auto& entry : invocation.list("simulate-mig")) {
        const auto gpu = DeviceId::parse(entry, true);
        if (!gpu || !gpu->is_gpu()) throw UsageError("--simulate-mig '" + entry + "' names no GPU", "e.g. --simulate-mig 0");
        faults.mig.push_back(gpu->index);
      }
    const std::uint64_t host = declared_cpu_memory(invocation).value_or(read_host_memory().available_bytes);
    if (allocator) *allocator = "simulated (exact accounting, no cache)";
    return std::make_unique<SimulatedRuntime>(*spec, host, faults, keep_data);
  }
  for (const char* fault : {"simulate-oom-at", "simulate-oom-above", "simulate-oom-at-step", "simulate-other-process", "simulate-process",
                            "simulate-usage", "simulate-memlock", "simulate-pcie", "simulate-mig"})
    if (declared(invocation, fault) && invocation.values.count(fault))
      throw UsageError(std::string("--") + fault + " works only with --simulate");
  const std::string setting = configure_cuda_allocator(invocation.text("cuda-alloc-conf").value_or("expandable_segments:True"));
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

Workload workload_from(const Invocation& invocation) {
  Workload workload;
  // A million tokens is beyond any model this tool places; a bound keeps the cost model's sums sane.
  workload.tokens = invocation.number("tokens", 1, 1'000'000).value_or(0);
  workload.batch = invocation.number("batch", 1, 4096).value_or(1);
  return workload;
}

void declare_image_size_options(CommandOptions& own) {
  own.options.add_options()
      ("height", po::value<std::string>()->value_name("PIXELS"), "image height of generated inputs for image models (16-65536; default 1024)")
      ("width", po::value<std::string>()->value_name("PIXELS"), "image width of generated inputs for image models (16-65536; default 1024)");
}

ImageSize image_size_from(const Invocation& invocation) {
  return {invocation.number("height", 16, 65'536).value_or(0), invocation.number("width", 16, 65'536).value_or(0)};
}

PlanningSetup prepare_planning(const Invocation& invocation) {
  PlanningSetup setup;
  setup.model = inspect_from_options(invocation);
  setup.workload = workload_from(invocation);
  auto runtime = make_runtime(invocation);
  setup.runtime = runtime->name();
  setup.budget = probe_budget(*runtime, setup.model, budget_options_from(invocation), setup.workload,
                              declared_cpu_memory(invocation), &setup.notes);
  return setup;
}

GuardOptions guard_options_from(const Invocation& invocation, const InspectedModel& model, const PluginRegistry& registry) {
  (void)model;
  GuardOptions options;
  options.strategy = invocation.text("strategy").value_or("auto");
  (void)registry.create(options.strategy);  // an unknown name is a usage error before anything loads
  for (const auto& name : text::split(invocation.text("fallback").value_or(""), ','))
    if (!text::trim(name).empty()) options.fallback.emplace_back(text::trim(name));
  for (const auto& name : options.fallback) (void)registry.create(name);
  options.max_attempts = invocation.number("max-attempts", 1, 16).value_or(4);
  options.budget = budget_options_from(invocation);
  options.workload = workload_from(invocation);
  options.verify_data = invocation.values.count("verify-data") && invocation.flag("verify-data");
  options.cpu_memory = declared_cpu_memory(invocation);
  const std::string source = invocation.text("stream-from").value_or("auto");
  if (source == "registered") options.stream_source = StreamSource::registered_mapping;
  else if (source == "pinned") options.stream_source = StreamSource::pinned_copy;
  else if (source == "page-cache") options.stream_source = StreamSource::staged_page_cache;
  else if (source != "auto")
    throw UsageError("unknown --stream-from '" + source + "'", "use auto, registered, pinned or page-cache");
  const std::string upload = invocation.text("upload-from").value_or("staged");
  if (upload == "registered") options.upload_path = UploadPath::registered;
  else if (upload == "mixed") options.upload_path = UploadPath::mixed;
  else if (upload != "staged") throw UsageError("unknown --upload-from '" + upload + "'", "use staged, registered or mixed");
  const std::string first = options.strategy;
  options.strategy_options = [&invocation, first](const std::string& name) { return strategy_options_for(invocation, name, name == first); };
  return options;
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
      continue;
    }
    options[key] = value;
  }
  return options;
}

}  // namespace vramguard
