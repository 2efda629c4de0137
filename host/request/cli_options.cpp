#include "request/cli_options.hpp"

#include <algorithm>
#include <set>

#include "core/errors.hpp"
#include "core/process_info.hpp"
#include "core/text.hpp"
#include "vramguard/byte_size.hpp"

namespace vramguard {
namespace {

// --job: passes per component, as written; the names are checked once the model is read
// (check_job_components).
void parse_job(const std::string& text, Workload& workload) {
  const std::string job_example = "e.g. --job text_encoder=2,transformer=100,vae=2";
  std::set<std::string> named;
  for (const auto& entry : text::split(text, ',')) {
    const auto eq = entry.find('=');
    const std::string name(text::trim(entry.substr(0, eq == std::string::npos ? entry.size() : eq)));
    const std::string count = eq == std::string::npos ? std::string() : std::string(text::trim(entry.substr(eq + 1)));
    if (name.empty() || count.empty() || count.size() > 7 || !std::all_of(count.begin(), count.end(), ::isdigit) ||
        std::stoull(count) == 0)
      throw UsageError("--job '" + entry + "' is not COMPONENT=CALLS (a whole number of passes, 1 to 9999999)",
                       job_example);
    if (!named.insert(name).second) throw UsageError("--job names '" + name + "' twice", job_example);
    workload.components[name].passes = std::stoull(count);
  }
}

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
    throw UsageError("--" + option + " '" + text + "' is not GPU=SIZE@" +
                         (option == "simulate-usage"     ? "SECONDS"
                          : option == "simulate-process" ? "PID"
                                                         : "N"),
                     example);
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
    throw UsageError("--simulate-other-process '" + text + "': the allocation count after '@' must be a whole number",
                     example);
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
  if (eq == std::string::npos || x == std::string::npos)
    throw UsageError("--simulate-pcie '" + text + "' is not GPU=GENxWIDTH", example);
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
  const std::string example =
      "e.g. --simulate-usage 0=14GB@3 (14 GB held on cuda:0 from 3 s on), or 0=14GB@file:/tmp/go (once that file "
      "exists)";
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
    throw UsageError("--simulate-usage '" + text + "': the seconds after '@' must be a number from 0 to 86400",
                     example);
  return {parsed.gpu, seconds, parsed.bytes, {}};
}

std::vector<StrategyOptionSetting> option_settings(const Invocation& invocation) {
  std::vector<StrategyOptionSetting> settings;
  for (const auto& entry : invocation.list("option")) {
    const auto eq = entry.find('=');
    if (eq == std::string::npos || eq == 0)
      throw UsageError("--option '" + entry + "' is not KEY=VALUE",
                       "e.g. --option prefetch=2, or --option balanced.low_zero=true");
    StrategyOptionSetting setting;
    setting.key = entry.substr(0, eq);
    setting.value = entry.substr(eq + 1);
    if (const auto dot = setting.key.find('.'); dot != std::string::npos) {
      setting.strategy = setting.key.substr(0, dot);
      setting.key = setting.key.substr(dot + 1);
    }
    settings.push_back(std::move(setting));
  }
  return settings;
}

std::optional<SimulatedDevices> simulated_devices(const Invocation& invocation) {
  const auto spec = invocation.text("simulate");
  if (!spec) {
    for (const char* fault :
         {"simulate-oom-at", "simulate-oom-above", "simulate-oom-at-step", "simulate-other-process", "simulate-process",
          "simulate-usage", "simulate-memlock", "simulate-pcie", "simulate-mig"})
      if (declared(invocation, fault)) throw UsageError(std::string("--") + fault + " works only with --simulate");
    return std::nullopt;
  }
  SimulatedDevices devices;
  devices.spec = *spec;
  SimulatedFaults& faults = devices.faults;
  if (declared(invocation, "simulate-oom-at"))
    faults.fail_at_allocation = invocation.number("simulate-oom-at", 1, UINT64_MAX / 2);
  if (declared(invocation, "simulate-oom-at-step"))
    faults.fail_at_step = invocation.number("simulate-oom-at-step", 1, UINT64_MAX / 2);
  if (declared(invocation, "simulate-oom-above"))
    faults.fail_above_bytes = size_option(invocation, "simulate-oom-above");
  if (declared(invocation, "simulate-other-process"))
    faults.other_process = other_process(*invocation.text("simulate-other-process"));
  for (const auto& entry : invocation.list("simulate-process"))
    faults.processes_at_start.push_back(simulated_process(entry));
  for (const auto& entry : invocation.list("simulate-usage")) faults.usage.push_back(usage_change(entry));
  for (const auto& entry : invocation.list("simulate-pcie")) faults.links.push_back(simulated_link(entry));
  for (const auto& entry : invocation.list("simulate-mig")) {
    const auto gpu = DeviceId::parse(entry, true);
    if (!gpu || !gpu->is_gpu())
      throw UsageError("--simulate-mig '" + entry + "' names no GPU", "e.g. --simulate-mig 0");
    faults.mig.push_back(gpu->index);
  }
  devices.memlock_bytes = size_option(invocation, "simulate-memlock");
  return devices;
}

InspectOptions inspect_options(const Invocation& invocation) {
  InspectOptions options;
  if (const auto dtype = invocation.text("dtype")) {
    options.target_dtype = dtype_from_user_name(*dtype);
    if (!options.target_dtype) throw UsageError("unknown --dtype '" + *dtype + "'", "use bf16, fp16, fp32 or fp64");
    if (!dtype_is_convertible(*options.target_dtype))
      throw UsageError("--dtype " + *dtype + " is not a dtype vramguard converts to",
                       "use bf16, fp16, fp32 or fp64; a checkpoint stored in fp8 loads in fp8 without --dtype");
  }
  options.unit_rules = invocation.text("unit-rules");
  if (const auto size = invocation.text("slice-vocabulary")) {
    try {
      options.vocabulary_slice_bytes = parse_byte_size(*size);
    } catch (const InvalidByteSize& e) {
      throw UsageError(std::string("--slice-vocabulary: ") + e.what(),
                       "e.g. --slice-vocabulary 256MB, or 0 to keep vocabularies whole");
    }
  }
  return options;
}

}  // namespace

void declare_model_options(CommandOptions& own) {
  // clang-format off
  own.options.add_options()
      ("model", po::value<std::string>()->value_name("MODEL"), "model folder, .safetensors file, index, or org/name")
      ("dtype", po::value<std::string>()->value_name("D"),
          "load floating tensors as bf16, fp16, fp32 or fp64 (also bfloat16, float16, half, float32, float64); "
          "integer and fp8/fp6/fp4 tensors keep their own dtype")
      ("unit-rules", po::value<std::string>()->value_name("RULES"),
          "refine how tensors group into units: 'embedding:PREFIX,block:PREFIX.,head:PREFIX' in forward order (a "
          "block prefix ending in '.' is an indexed stack)")
      ("slice-vocabulary", po::value<std::string>()->value_name("SIZE"),
          "split embedding and head units larger than SIZE into row slices of about SIZE, so that a streamed "
          "vocabulary does not size every window slot (default: those over twice the largest block, into block-sized "
          "slices; 0: never)");
  // clang-format on
  own.positional.add("model", 1);
}

void declare_planning_options(CommandOptions& own) {
  declare_model_options(own);
  // clang-format off
  own.options.add_options()
      ("simulate", po::value<std::string>()->value_name("GPUS"),
          "plan for declared GPUs instead of real ones: a preset (rtx4080, rtx4090, a100-80gb, h100-80gb, h200) or "
          "\"cuda:16GiB@25GB/s,cuda:16GiB@25GB/s\"")
      ("cpu-memory", po::value<std::string>()->value_name("SIZE"),
          "declare the host's available RAM instead of reading it")
      ("max-memory", po::value<std::string>()->value_name("CAPS"),
          "caps per device, accelerate's way: 0=12GB,1=20GiB,cpu=64GiB (a GPU cap bounds everything we hold there)")
      ("reserve", po::value<std::string>()->value_name("SIZE|CAPS"),
          "memory kept free for the system and other programs: one size for every GPU, or 0=4GB,cpu=8GB (default: 5 "
          "% of each GPU's memory, from 512 MiB to 2 GiB; 0 keeps nothing free)")
      ("headroom", po::value<std::string>()->value_name("SIZE"),
          "activation headroom per GPU (default: estimated from the architecture and --tokens)")
      ("adapter-memory", po::value<std::string>()->value_name("SIZE"),
          "memory the model's adapters (a LoRA's weights) take beside the checkpoint's on each GPU it runs on: "
          "planned for like resident weights (the Python module counts a loaded LoRA by itself)")
      ("pinned-memory", po::value<std::string>()->value_name("SIZE"),
          "cap on pinned host memory for streamed weights (default: the CPU's usable memory)")
      ("allow-cpu-compute", po::bool_switch(), "let strategies run units on the CPU")
      ("tokens", po::value<std::string>()->value_name("N"),
          "tokens per forward pass (default: each architecture's typical workload, e.g. a 1024x1024 edit)")
      ("batch", po::value<std::string>()->value_name("B"), "sequences per forward pass (default 1)")
      ("job", po::value<std::string>()->value_name("COMPONENT=CALLS,..."),
          "a whole job: how many passes each component makes in it (one for a component not named), e.g. a 50-step "
          "Qwen-Image-Edit edit with true CFG: text_encoder=2,transformer=100,vae=2 (the prompt and the negative "
          "prompt, two transformer passes a step, the VAE's encode and decode); auto keeps resident what runs most, "
          "and the prediction covers the job")
      ("option", po::value<std::vector<std::string>>()->value_name("KEY=VALUE"),
          "a strategy option (repeatable); NAME.KEY=VALUE for one strategy in compare");
  // clang-format on
}

void declare_simulated_neighbours(CommandOptions& own) {
  // clang-format off
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
      ("simulate-mig", po::value<std::vector<std::string>>()->value_name("GPU"),
          "with --simulate: MIG is enabled on GPU (repeatable)");
  // clang-format on
}

void declare_guard_options(CommandOptions& own) {
  declare_simulated_neighbours(own);
  // clang-format off
  own.options.add_options()
      ("fallback", po::value<std::string>()->value_name("S1,S2,...")->default_value("balanced,auto,sequential-offload"),
          "the strategies the guard tries, in order, when a load runs out of memory")
      ("max-attempts", po::value<std::string>()->value_name("N")->default_value("4"),
          "attempts at most, the first included (1-16)")
      ("cuda-alloc-conf", po::value<std::string>()->value_name("CONF")->default_value("expandable_segments:True"),
          "PyTorch CUDA allocator settings used when PYTORCH_CUDA_ALLOC_CONF is not set")
      ("stream-from", po::value<std::string>()->value_name("SOURCE")->default_value("auto"),
          "how weights streamed from host memory reach the GPU: auto (the cost model's choice, from the measured "
          "rates), registered (the mapped checkpoint registered with the driver), pinned (copied into pinned memory "
          "at load), page-cache (read through the staging ring at run time)")
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
  // clang-format on
}

void declare_image_size_options(CommandOptions& own) {
  // clang-format off
  own.options.add_options()
      ("height", po::value<std::string>()->value_name("PIXELS"),
          "image height of generated inputs for image models (16-65536; default 1024)")
      ("width", po::value<std::string>()->value_name("PIXELS"),
          "image width of generated inputs for image models (16-65536; default 1024)");
  // clang-format on
}

LoadRequest load_request_from(const Invocation& invocation, bool model_required) {
  LoadRequest request;
  const auto model = invocation.text("model");
  if (!model && model_required)
    throw UsageError("no MODEL given", "usage: vramguard " + invocation.command + " MODEL [options]");
  request.model = model.value_or("");
  request.environment = invocation.environment;
  request.inspect = inspect_options(invocation);

  if (const auto strategy = invocation.text("strategy")) {
    request.strategy = *strategy;
    request.strategy_given = !invocation.values["strategy"].defaulted();
  }
  if (const auto fallback = invocation.text("fallback")) {
    request.fallback.clear();
    for (const auto& name : text::split(*fallback, ','))
      if (!text::trim(name).empty()) request.fallback.emplace_back(text::trim(name));
  }
  request.max_attempts = invocation.number("max-attempts", 1, 16).value_or(4);

  BudgetOptions& budget = request.budget;
  if (const auto caps = invocation.text("max-memory")) budget.max_memory = parse_device_sizes("max-memory", *caps);
  if (const auto reserve = invocation.text("reserve")) {
    if (reserve->find('=') != std::string::npos) budget.reserve = parse_device_sizes("reserve", *reserve);
    else budget.reserve_all = size_option(invocation, "reserve");
  }
  budget.headroom = size_option(invocation, "headroom");
  budget.pinned_cap = size_option(invocation, "pinned-memory");
  budget.adapter_bytes = size_option(invocation, "adapter-memory").value_or(0);
  budget.allow_cpu_compute = invocation.flag("allow-cpu-compute");
  request.cpu_memory_bytes = size_option(invocation, "cpu-memory");
  // A million tokens is beyond any model this tool places; a bound keeps the cost model's sums sane.
  request.workload.tokens = invocation.number("tokens", 1, 1'000'000).value_or(0);
  request.workload.batch = invocation.number("batch", 1, 4096).value_or(1);
  if (const auto job = invocation.text("job")) {
    parse_job(*job, request.workload);
    request.job_given = true;
  }

  request.config_strategy_options = invocation.strategy_options;
  request.option_settings = option_settings(invocation);

  const std::string source = invocation.text("stream-from").value_or("auto");
  if (source == "registered") request.stream_source = StreamSource::registered_mapping;
  else if (source == "pinned") request.stream_source = StreamSource::pinned_copy;
  else if (source == "page-cache") request.stream_source = StreamSource::staged_page_cache;
  else if (source != "auto")
    throw UsageError("unknown --stream-from '" + source + "'", "use auto, registered, pinned or page-cache");
  const std::string upload = invocation.text("upload-from").value_or("staged");
  if (upload == "registered") request.upload_path = UploadPath::registered;
  else if (upload == "mixed") request.upload_path = UploadPath::mixed;
  else if (upload != "staged")
    throw UsageError("unknown --upload-from '" + upload + "'", "use staged, registered or mixed");
  request.cuda_alloc_conf = invocation.text("cuda-alloc-conf").value_or("expandable_segments:True");
  request.simulate = simulated_devices(invocation);

  request.plugins = plugin_search_from(invocation);
  request.verify_data = invocation.flag("verify-data");

  for (const char* option : {"simulate", "max-memory", "reserve", "headroom", "adapter-memory", "dtype", "cpu-memory",
                             "pinned-memory", "tokens", "batch", "job", "cuda-alloc-conf", "fallback"})
    if (const auto value = invocation.text(option)) request.as_given.emplace_back(option, *value);
  if (request.budget.allow_cpu_compute) request.as_given.emplace_back("allow-cpu-compute", "true");
  if (invocation.config_file) request.config_file = invocation.config_file->string();
  return request;
}

PluginSearch plugin_search_from(const Invocation& invocation) {
  PluginSearch search;
  search.dirs = invocation.list("plugin-dir");
  search.env_path = invocation.env_plugin_path;
  search.config_dirs = invocation.config_plugin_dirs;
  search.allow_insecure = invocation.flag("allow-insecure-plugins");
  search.allow_duplicates = invocation.flag("allow-duplicate-plugins");
  return search;
}

ImageSize image_size_from(const Invocation& invocation) {
  return {invocation.number("height", 16, 65'536).value_or(0), invocation.number("width", 16, 65'536).value_or(0)};
}

}  // namespace vramguard
