#pragma once
// What the user says about memory: caps (accelerate's max_memory: `0=12GB,cpu=64GiB`), a reserve kept
// free (for every device, or per device), activation headroom, a pinned-memory cap, CPU compute; and
// the one place a DeviceBudget is built from probed devices and those options.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "vramguard/device_budget.hpp"
#include "vramguard/model_graph.hpp"
#include "vramguard/strategy.hpp"

namespace vramguard {

class DeviceRuntime;
struct InspectedModel;

struct BudgetOptions {
  std::map<DeviceId, std::uint64_t> max_memory;  // GPUs and cpu → cap
  std::optional<std::uint64_t> reserve_all;      // kept free on every GPU; unset: default_gpu_reserve()
  std::map<DeviceId, std::uint64_t> reserve;     // per device, overrides reserve_all
  std::optional<std::uint64_t> headroom;         // activation headroom per GPU; estimated when absent
  std::uint64_t adapter_bytes = 0;               // kept on every GPU for weights beside the checkpoint's (LoRA)
  std::optional<std::uint64_t> pinned_cap;       // pinned host memory for streamed weights
  bool allow_cpu_compute = false;
  // The GPUs the plan may use, by index (--gpus); unset: every one. The others are left out of the budget.
  std::optional<std::vector<int>> gpus;
};

// Where a GPU's memory goes before weights get any, for a report that opens with "usable 6.29 GB" on a
// 16 GB card: "of its 17.18 GB: the 12.00 GB cap less 0.64 GB of CUDA context, 5.07 GB of headroom for a
// pass's activations". Names the limit that binds (the cap, or what is free less the reserve).
std::string explain_usable(const DeviceInfo& gpu);

// What stays free on a GPU unless the user says otherwise: 5 % of its memory, from 512 MiB to 2 GiB.
// Enough for a desktop's compositor and a browser to grow a little, and for the allocator's rounding;
// filling a card to its last megabyte makes the next program (or the next step) fail.
std::uint64_t default_gpu_reserve(std::uint64_t total_bytes);

// The budget for this run from devices already probed: the user's options, and headroom for the
// model's workload. usable = min(cap − context, free − reserve) − adapters − headroom; the CPU's usable is its
// available RAM (or its cap); streamed weights are pinned up to the pinned cap (default: the CPU's
// usable bytes). `notes` receives facts a report should state.
// `cache_slack_fraction`: the share of the headroom a caching allocator holds beyond a step's tensors
// (DeviceRuntime::cache_slack_fraction), added to each GPU's headroom.
DeviceBudget build_budget(std::vector<DeviceInfo> gpus, DeviceInfo cpu, std::optional<DeviceInfo> disk,
                          const BudgetOptions& options, const ModelGraph& model, const Workload& workload,
                          std::vector<std::string>* notes = nullptr, double cache_slack_fraction = 0);

// Probes everything (GPUs through the runtime, host RAM or `declared_cpu_bytes`, the disk holding the
// model) and builds the budget: what every command that plans or loads starts from.
DeviceBudget probe_budget(DeviceRuntime& runtime, const InspectedModel& model, const BudgetOptions& options,
                          const Workload& workload, std::optional<std::uint64_t> declared_cpu_bytes,
                          std::vector<std::string>* notes = nullptr);

}  // namespace vramguard
