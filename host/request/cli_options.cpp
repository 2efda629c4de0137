#include "request/cli_options.hpp"

#include <algorithm>
#include <set>

#include "config/option_table.hpp"
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

// --option KEY=VALUE (the first strategy's) and NAME.KEY=VALUE (strategy NAME's).
std::vector<StrategyOptionSetting> strategy_settings(const StrategySettings& given) {
  std::vector<StrategyOptionSetting> settings;
  for (const auto& [key, value] : given) {
    StrategyOptionSetting setting;
    setting.key = key;
    setting.value = value;
    if (const auto dot = key.find('.'); dot != std::string::npos) {
      setting.strategy = key.substr(0, dot);
      setting.key = key.substr(dot + 1);
    }
    settings.push_back(std::move(setting));
  }
  return settings;
}

std::optional<SimulatedDevices> simulated_devices(const Invocation& invocation, const LoadOptions& options) {
  if (!options.simulate) {
    for (const auto& option : option_declarations())
      if (option.group == OptionGroup::faults || option.group == OptionGroup::neighbours)
        if (declared(invocation, std::string(option.name).c_str()))
          throw UsageError("--" + std::string(option.name) + " works only with --simulate");
    return std::nullopt;
  }
  SimulatedDevices devices;
  devices.spec = *options.simulate;
  SimulatedFaults& faults = devices.faults;
  faults.fail_at_allocation = options.simulate_oom_at;
  faults.fail_at_step = options.simulate_oom_at_step;
  if (options.simulate_oom_above) faults.fail_above_bytes = options.simulate_oom_above->bytes;
  if (options.simulate_other_process) faults.other_process = other_process(*options.simulate_other_process);
  for (const auto& entry : options.simulate_process) faults.processes_at_start.push_back(simulated_process(entry));
  for (const auto& entry : options.simulate_usage) faults.usage.push_back(usage_change(entry));
  for (const auto& entry : options.simulate_pcie) faults.links.push_back(simulated_link(entry));
  for (const auto& entry : options.simulate_mig) {
    const auto gpu = DeviceId::parse(entry, true);
    if (!gpu || !gpu->is_gpu())
      throw UsageError("--simulate-mig '" + entry + "' names no GPU", "e.g. --simulate-mig 0");
    faults.mig.push_back(gpu->index);
  }
  if (options.simulate_memlock) devices.memlock_bytes = options.simulate_memlock->bytes;
  return devices;
}

// --plugin-dir, VRAMGUARD_PLUGIN_PATH, the config's plugin_dirs and the --allow-* switches, from options
// already read.
PluginSearch plugin_search(const Invocation& invocation, const LoadOptions& options) {
  PluginSearch search;
  search.dirs = options.plugin_dir;
  search.env_path = invocation.env_plugin_path;
  search.config_dirs = invocation.config_plugin_dirs;
  search.allow_insecure = options.allow_insecure_plugins.value_or(false);
  search.allow_duplicates = options.allow_duplicate_plugins.value_or(false);
  return search;
}

}  // namespace

void declare_model_options(CommandOptions& own) {
  own.options.add_options()("model", po::value<std::string>()->value_name("MODEL"),
                            "model folder, .safetensors file, index, or org/name");
  declare_options(own.options, OptionGroup::model);
  own.positional.add("model", 1);
}

void declare_planning_options(CommandOptions& own) {
  declare_model_options(own);
  declare_options(own.options, OptionGroup::planning);
}

void declare_simulated_neighbours(CommandOptions& own) { declare_options(own.options, OptionGroup::neighbours); }

void declare_guard_options(CommandOptions& own) {
  declare_simulated_neighbours(own);
  declare_options(own.options, OptionGroup::guard);
  declare_options(own.options, OptionGroup::faults);
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
  return load_request_from(invocation, load_options_from(invocation), model_required);
}

LoadRequest load_request_from(const Invocation& invocation, const LoadOptions& options, bool model_required) {
  LoadRequest request;
  const auto model = invocation.text("model");
  if (!model && model_required)
    throw UsageError("no MODEL given", "usage: vramguard " + invocation.command + " MODEL [options]");
  request.model = model.value_or("");
  request.environment = invocation.environment;
  if (options.dtype) request.inspect.target_dtype = options.dtype->dtype;
  request.inspect.unit_rules = options.unit_rules;
  if (options.slice_vocabulary) request.inspect.vocabulary_slice_bytes = options.slice_vocabulary->bytes;
  request.inspect.loras = options.lora;
  for (const auto& component : options.component) {
    const bool twice =
        component.weights_file
            ? !request.inspect.component_files.emplace(component.name, *component.weights_file).second
            : std::count(request.inspect.components.begin(), request.inspect.components.end(), component.name) > 0;
    if (twice) throw UsageError("--component names " + component.name + " twice", "name each component once");
    if (!component.weights_file) request.inspect.components.push_back(component.name);
  }
  for (const auto& weights : options.weight_dtype) {
    Fp8Quantization quantization;
    quantization.per_row = options.fp8_scales && options.fp8_scales->per_row;
    for (const auto& layer : options.fp8_keep) quantization.keep.push_back(layer.name);
    if (!request.inspect.quantize.emplace(weights.component, quantization).second)
      throw UsageError("--weight-dtype names " + weights.component + " twice", "name each component once");
  }
  if (options.fp8_compute) request.fp8_compute = options.fp8_compute->mode;
  if (options.weight_dtype.empty() && (options.fp8_scales || !options.fp8_keep.empty()))
    throw UsageError(std::string(options.fp8_scales ? "--fp8-scales" : "--fp8-keep") +
                         " says how weights quantize, and no --weight-dtype quantizes any",
                     "add --weight-dtype transformer=fp8, or leave it out");

  if (const auto strategy = invocation.text("strategy")) {
    request.strategy = *strategy;
    request.strategy_given = !invocation.values["strategy"].defaulted();
  }
  if (options.fallback) {
    request.fallback.clear();
    for (const auto& name : text::split(*options.fallback, ','))
      if (!text::trim(name).empty()) request.fallback.emplace_back(text::trim(name));
  }
  request.max_attempts = options.max_attempts.value_or(4);

  BudgetOptions& budget = request.budget;
  if (options.max_memory) budget.max_memory = options.max_memory->bytes;
  if (options.reserve) {
    budget.reserve = options.reserve->per_device_bytes;
    budget.reserve_all = options.reserve->every_gpu_bytes;
  }
  if (options.headroom) budget.headroom = options.headroom->bytes;
  if (options.pinned_memory) budget.pinned_cap = options.pinned_memory->bytes;
  budget.adapter_bytes = options.adapter_memory.value_or(ByteSize{}).bytes;
  budget.allow_cpu_compute = options.allow_cpu_compute.value_or(false);
  if (!options.gpus.empty()) {
    budget.gpus.emplace();
    for (const auto& gpu : options.gpus)
      if (std::find(budget.gpus->begin(), budget.gpus->end(), gpu.index) == budget.gpus->end())
        budget.gpus->push_back(gpu.index);
  }
  if (options.cpu_memory) request.cpu_memory_bytes = options.cpu_memory->bytes;
  request.workload.tokens = options.tokens.value_or(0);
  request.workload.batch = options.batch.value_or(1);
  if (options.job) {
    parse_job(*options.job, request.workload);
    request.job_given = true;
  }

  request.config_strategy_options = invocation.strategy_options;
  request.option_settings = strategy_settings(options.strategy_options);

  const std::string source = options.stream_from.value_or("auto");
  if (source == "registered") request.stream_source = StreamSource::registered_mapping;
  else if (source == "pinned") request.stream_source = StreamSource::pinned_copy;
  else if (source == "page-cache") request.stream_source = StreamSource::staged_page_cache;
  else if (source != "auto")
    throw UsageError("unknown --stream-from '" + source + "'", "use auto, registered, pinned or page-cache");
  const std::string upload = options.upload_from.value_or("staged");
  if (upload == "registered") request.upload_path = UploadPath::registered;
  else if (upload == "mixed") request.upload_path = UploadPath::mixed;
  else if (upload != "staged")
    throw UsageError("unknown --upload-from '" + upload + "'", "use staged, registered or mixed");
  request.cuda_alloc_conf = options.cuda_alloc_conf.value_or("expandable_segments:True");
  request.simulate = simulated_devices(invocation, options);

  request.plugins = plugin_search(invocation, options);
  request.verify_data = options.verify_data.value_or(false);

  // What a config written for this request repeats, as the user wrote it.
  for (const auto& option : option_declarations()) {
    const std::string name(option.name);
    if (!option.written || !invocation.values.count(name) || invocation.values[name].defaulted()) continue;
    if (option.kind == OptionKind::flag) {
      if (invocation.flag(name)) request.as_given.emplace_back(name, "true");
    } else if (option.is_list()) {
      for (const auto& value : invocation.list(name)) request.as_given.emplace_back(name, value);
    } else if (const auto value = invocation.text(name)) {
      request.as_given.emplace_back(name, *value);
    }
  }
  if (invocation.config_file) request.config_file = invocation.config_file->string();
  return request;
}

ImageSize image_size_from(const Invocation& invocation) {
  return {invocation.number("height", 16, 65'536).value_or(0), invocation.number("width", 16, 65'536).value_or(0)};
}

PluginSearch plugin_search_from(const Invocation& invocation) {
  return plugin_search(invocation, load_options_from(invocation));
}

}  // namespace vramguard
