#pragma once
// What the user says about memory: caps (accelerate's max_memory: `0=12GB,cpu=64GiB`), a reserve kept
// free (for every device, or per device), activation headroom, a pinned-memory cap, CPU compute.
#include <map>
#include <optional>
#include <string>

#include "vramguard/device_budget.hpp"
#include "vramguard/model_graph.hpp"
#include "vramguard/strategy.hpp"

namespace vramguard {

struct BudgetOptions {
  std::map<std::string, std::uint64_t> max_memory;  // device name ("cuda:0", "cpu") → cap
  std::optional<std::uint64_t> reserve_all;         // kept free on every GPU
  std::map<std::string, std::uint64_t> reserve;     // per device, overrides reserve_all
  std::optional<std::uint64_t> headroom;            // activation headroom per GPU; estimated when absent
  std::optional<std::uint64_t> pinned_cap;          // pinned host memory for streamed weights
  bool allow_cpu_compute = false;
};

// "0=12GB,1=20GiB,cpu=64GiB,disk=1TB" (keys: GPU index, cuda:N, cpu, disk). Throws UsageError naming
// the option and the entry.
std::map<std::string, std::uint64_t> parse_device_sizes(const std::string& option, const std::string& text);

// The budget for this run: probed devices, the user's options, and headroom for the model's workload.
// usable = min(cap − context, free − reserve) − headroom; the CPU's usable is its available RAM (or
// its cap); streamed weights are pinned up to the pinned cap (default: the CPU's usable bytes).
DeviceBudget build_budget(std::vector<DeviceInfo> gpus, DeviceInfo cpu, std::optional<DeviceInfo> disk,
                          const BudgetOptions& options, const ModelGraph& model, const Workload& workload);

}  // namespace vramguard
