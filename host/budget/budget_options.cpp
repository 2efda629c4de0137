#include "budget/budget_options.hpp"

#include <algorithm>

#include "core/errors.hpp"
#include "core/text.hpp"
#include "devices/device_runtime.hpp"
#include "devices/host_memory.hpp"
#include "model/model_inspector.hpp"
#include "vramguard/byte_size.hpp"
#include "vramguard/cost_model.hpp"

namespace vramguard {

std::string explain_usable(const DeviceInfo& gpu) {
  auto gb = [](std::uint64_t bytes) { return format_gb(bytes) + " GB"; };
  const std::uint64_t after_reserve = gpu.free_bytes > gpu.reserve_bytes ? gpu.free_bytes - gpu.reserve_bytes : 0;
  const std::uint64_t capped =
      gpu.cap_bytes && *gpu.cap_bytes > gpu.context_bytes ? *gpu.cap_bytes - gpu.context_bytes : 0;
  std::string text = "usable " + gb(gpu.usable_bytes) + " of its " + gb(gpu.total_bytes) + ": ";
  if (gpu.cap_bytes && capped <= after_reserve)
    text += "the " + gb(*gpu.cap_bytes) + " cap less " + gb(gpu.context_bytes) + " of CUDA context";
  else
    text += gb(gpu.free_bytes) + " free (the CUDA context already out of it) less the " + gb(gpu.reserve_bytes) +
            " reserve kept for other programs";
  text += ", " + gb(gpu.headroom_bytes) + " of headroom for a pass's activations";
  if (gpu.adapter_bytes > 0) text += ", " + gb(gpu.adapter_bytes) + " for adapters";
  return text;
}

std::uint64_t default_gpu_reserve(std::uint64_t total_bytes) {
  return std::clamp<std::uint64_t>(total_bytes / 20, 512ULL << 20, 2ULL << 30);
}

DeviceBudget build_budget(std::vector<DeviceInfo> gpus, DeviceInfo cpu, std::optional<DeviceInfo> disk,
                          const BudgetOptions& options, const ModelGraph& model, const Workload& workload,
                          std::vector<std::string>* notes, double cache_slack_fraction) {
  // --gpus leaves the machine's other GPUs out of the budget.
  const auto left_out = [&](const DeviceId& device) {
    return options.gpus && device.is_gpu() &&
           std::find(options.gpus->begin(), options.gpus->end(), device.index) == options.gpus->end();
  };
  if (options.gpus) {
    for (const int index : *options.gpus)
      if (std::none_of(gpus.begin(), gpus.end(), [&](const DeviceInfo& g) { return g.id == DeviceId::gpu(index); }))
        throw UsageError("--gpus names cuda:" + std::to_string(index) + ", which this machine does not have",
                         "name GPUs by index among the " + std::to_string(gpus.size()) +
                             " this machine has (vramguard doctor lists them)");
    std::erase_if(gpus, [&](const DeviceInfo& g) { return left_out(g.id); });
  }
  for (const auto& [device, size] : options.max_memory) {
    const bool known = device == DeviceId::host() ||
                       std::any_of(gpus.begin(), gpus.end(), [&](const DeviceInfo& g) { return g.id == device; });
    if (!known && !left_out(device))
      throw UsageError("--max-memory names " + device.str() + ", which this machine does not have");
  }
  std::uint64_t headroom = 0;
  if (options.headroom) {
    headroom = *options.headroom;
  } else {
    for (const auto& component : model.components)
      headroom = std::max(headroom, activation_headroom(component, workload));
  }
  const auto cache_slack = static_cast<std::uint64_t>(cache_slack_fraction * static_cast<double>(headroom));
  if (cache_slack > 0 && notes && !gpus.empty())
    notes->push_back("each GPU's headroom holds " + format_bytes(cache_slack) +
                     " beside the activations for what PyTorch's caching allocator keeps of them (fragments "
                     "of its cache it cannot hand back)");
  DeviceBudget budget;
  for (auto& gpu : gpus) {
    if (const auto it = options.max_memory.find(gpu.id); it != options.max_memory.end()) gpu.cap_bytes = it->second;
    const auto reserve = options.reserve.find(gpu.id);
    const bool default_reserve = reserve == options.reserve.end() && !options.reserve_all;
    gpu.reserve_bytes = reserve != options.reserve.end()
                            ? reserve->second
                            : options.reserve_all.value_or(default_gpu_reserve(gpu.total_bytes));
    if (default_reserve && notes)
      notes->push_back(gpu.name() + " keeps " + format_bytes(gpu.reserve_bytes) +
                       " free by default (5 % of its memory; --reserve sets it)");
    gpu.headroom_bytes = headroom + cache_slack;
    gpu.adapter_bytes = options.adapter_bytes;
    gpu.update_usable();
    budget.devices.push_back(gpu);
  }
  if (const auto it = options.max_memory.find(DeviceId::host()); it != options.max_memory.end()) {
    cpu.cap_bytes = it->second;
    budget.cpu_cap_given = true;
  }
  if (const auto it = options.reserve.find(DeviceId::host()); it != options.reserve.end())
    cpu.reserve_bytes = it->second;
  cpu.update_usable();
  budget.devices.push_back(cpu);
  if (disk) budget.devices.push_back(*disk);
  budget.pinned_cap_bytes = std::min(options.pinned_cap.value_or(cpu.usable_bytes), cpu.usable_bytes);
  budget.allow_cpu_compute = options.allow_cpu_compute;
  if (notes) {
    if (!budget.cpu_cap_given)
      notes->push_back("the CPU budget is the available RAM, " + format_bytes(cpu.usable_bytes) +
                       " (no cpu entry in --max-memory)");
    for (const auto* gpu : budget.gpus()) {
      if (gpu->adapter_bytes > 0)
        notes->push_back(gpu->name() + " keeps " + format_bytes(gpu->adapter_bytes) +
                         " for adapters beside the checkpoint's weights (--adapter-memory)");
      if (gpu->usable_bytes == 0)
        notes->push_back(gpu->name() + " has no usable memory after its cap, reserve and headroom");
      if (!gpu->context_measured)
        notes->push_back(gpu->name() + "'s CUDA context is assumed to take " + format_bytes(gpu->context_bytes) +
                         " (measured on an H100; a simulated GPU has none to measure)");
    }
  }
  return budget;
}

DeviceBudget probe_budget(DeviceRuntime& runtime, const InspectedModel& model, const BudgetOptions& options,
                          const Workload& workload, std::optional<std::uint64_t> declared_cpu_bytes,
                          std::vector<std::string>* notes) {
  HostMemoryReading host = read_host_memory();
  if (declared_cpu_bytes) {
    host.total_bytes = host.available_bytes = *declared_cpu_bytes;
    host.cgroup_limit_bytes.reset();
  }
  DeviceBudget budget = build_budget(runtime.probe_gpus(), cpu_device(host),
                                     disk_device(model.source.root.empty() ? "." : model.source.root), options,
                                     model.graph, workload, notes, runtime.cache_slack_fraction());
  budget.can_register_mappings = runtime.can_register_host_memory();
  return budget;
}

}  // namespace vramguard
