#include "budget/budget_options.hpp"

#include <algorithm>
#include <cctype>

#include "core/errors.hpp"
#include "core/text.hpp"
#include "vramguard/byte_size.hpp"
#include "vramguard/cost_model.hpp"

namespace vramguard {

std::map<std::string, std::uint64_t> parse_device_sizes(const std::string& option, const std::string& text) {
  std::map<std::string, std::uint64_t> sizes;
  for (const auto& raw : text::split(text, ',')) {
    const std::string entry(text::trim(raw));
    if (entry.empty()) continue;
    const auto eq = entry.find('=');
    if (eq == std::string::npos)
      throw UsageError("--" + option + " entry '" + entry + "' is not DEVICE=SIZE", "e.g. --" + option + " 0=12GB,cpu=64GiB");
    std::string device(text::trim(entry.substr(0, eq)));
    if (!device.empty() && std::all_of(device.begin(), device.end(), ::isdigit)) device = "cuda:" + device;
    if (!(text::starts_with(device, "cuda:") || device == "cpu" || device == "disk"))
      throw UsageError("--" + option + " names an unknown device '" + device + "'", "devices are GPU indices (0, 1...), cuda:N, cpu and disk");
    try {
      sizes[device] = parse_byte_size(entry.substr(eq + 1));
    } catch (const InvalidByteSize& e) {
      throw UsageError("--" + option + " " + device + ": " + e.what());
    }
  }
  return sizes;
}

DeviceBudget build_budget(std::vector<DeviceInfo> gpus, DeviceInfo cpu, std::optional<DeviceInfo> disk,
                          const BudgetOptions& options, const ModelGraph& model, const Workload& workload) {
  for (const auto& [device, size] : options.max_memory) {
    const bool known = device == "cpu" || device == "disk" ||
                       std::any_of(gpus.begin(), gpus.end(), [&](const DeviceInfo& g) { return g.name == device; });
    if (!known) throw UsageError("--max-memory names " + device + ", which this machine does not have");
  }
  std::uint64_t headroom = 0;
  if (options.headroom) {
    headroom = *options.headroom;
  } else {
    for (const auto& component : model.components) headroom = std::max(headroom, activation_headroom(component, workload));
  }
  DeviceBudget budget;
  for (auto& gpu : gpus) {
    if (const auto it = options.max_memory.find(gpu.name); it != options.max_memory.end()) gpu.cap_bytes = it->second;
    const auto reserve = options.reserve.find(gpu.name);
    gpu.reserve_bytes = reserve != options.reserve.end() ? reserve->second : options.reserve_all.value_or(0);
    gpu.headroom_bytes = headroom;
    gpu.update_usable();
    budget.devices.push_back(gpu);
  }
  if (const auto it = options.max_memory.find("cpu"); it != options.max_memory.end()) {
    cpu.cap_bytes = it->second;
    budget.cpu_cap_given = true;
  }
  if (const auto it = options.reserve.find("cpu"); it != options.reserve.end()) cpu.reserve_bytes = it->second;
  cpu.update_usable();
  budget.devices.push_back(cpu);
  if (disk) {
    if (const auto it = options.max_memory.find("disk"); it != options.max_memory.end()) disk->usable_bytes = it->second;
    budget.devices.push_back(*disk);
  }
  budget.pinned_cap_bytes = std::min(options.pinned_cap.value_or(cpu.usable_bytes), cpu.usable_bytes);
  budget.allow_cpu_compute = options.allow_cpu_compute;
  return budget;
}

}  // namespace vramguard
