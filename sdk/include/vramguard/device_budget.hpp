#pragma once
// DeviceBudget: what memory each device offers this run, as probed (or declared, on a simulated
// runtime). usable = min(cap − context, free − reserve) − adapters − headroom, never below zero: weights and the
// streaming window must fit in usable; the context, activations and the reserve stay outside it.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "vramguard/device_id.hpp"

namespace vramguard {

struct DeviceInfo {
  DeviceId id;
  std::string description;  // "NVIDIA H100 80GB HBM3", "simulated RTX 4080"
  std::uint64_t total_bytes = 0;
  std::uint64_t free_bytes = 0;            // at probe time
  std::optional<std::uint64_t> cap_bytes;  // the user's max_memory: everything we hold on the device
  std::uint64_t reserve_bytes = 0;         // kept free for the system and other programs
  std::uint64_t headroom_bytes = 0;        // kept for activations and workspace
  std::uint64_t context_bytes = 0;         // the CUDA context, already outside free_bytes once it exists
  std::uint64_t adapter_bytes = 0;         // weights beside the checkpoint's kept here whatever the plan (a LoRA's
                                           // adapters): held like resident weights, outside the placement
  bool context_measured = false;           // false: context_bytes is the cost model's assumption
  std::uint64_t usable_bytes = 0;          // what a placement may fill with weights
  double host_to_device_bytes_per_s = 0;   // pinned copy bandwidth (measured or declared)
  double compute_flops_per_s = 0;          // sustained dense bf16 FLOP/s, for the cost model
  double fp8_compute_flops_per_s = 0;      // dense fp8 FLOP/s of its tensor cores; 0: it has none
  double memory_bytes_per_s = 0;           // its own memory's peak bandwidth (driver or declared); 0: unknown
  bool simulated = false;

  std::string name() const { return id.str(); }
  DeviceKind kind() const { return id.kind; }
  // Recomputes usable_bytes from the fields above.
  void update_usable();
};

struct DeviceBudget {
  std::vector<DeviceInfo> devices;     // GPUs first in index order, then cpu, then disk
  std::uint64_t pinned_cap_bytes = 0;  // pinned host memory a plan may use (0: none allowed)
  double storage_bytes_per_s = 0;      // reading checkpoint files (page cache or disk)
  // The runtime can register the mapped checkpoint with the driver, so that streamed weights are
  // copied to the GPU straight from the page cache at pinned speed (root, or a large memlock limit).
  bool can_register_mappings = false;
  bool cpu_cap_given = false;  // false: the cpu budget is available RAM, not a user cap
  bool allow_cpu_compute = false;

  std::vector<const DeviceInfo*> gpus() const;
  const DeviceInfo* find(DeviceId id) const;
  const DeviceInfo* cpu() const;
  const DeviceInfo* disk() const;
};

}  // namespace vramguard
