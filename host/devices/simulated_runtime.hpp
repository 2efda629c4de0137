#pragma once
// Simulated GPUs, declared by preset (`rtx4080`) or spec (`cuda:16GiB@25GB/s,cuda:16GiB@25GB/s`, each
// entry optionally a preset name). Free memory is the capacity less a CUDA context, as on a real card.
#include <string>
#include <vector>

#include "devices/device_runtime.hpp"

namespace vramguard {

struct GpuPreset {
  std::string name;         // "rtx4080"
  std::string description;  // "NVIDIA GeForce RTX 4080 16 GB (PCIe 4.0 x16)"
  std::uint64_t total_bytes;
  double host_to_device_bytes_per_s;
  double compute_flops;     // dense bf16 tensor FLOP/s
};

const std::vector<GpuPreset>& gpu_presets();

class SimulatedRuntime final : public DeviceRuntime {
 public:
  // Throws UsageError for a spec it cannot read, showing the accepted forms.
  explicit SimulatedRuntime(const std::string& spec);
  std::string name() const override { return "simulated"; }
  std::vector<DeviceInfo> probe_gpus() override { return gpus_; }

 private:
  std::vector<DeviceInfo> gpus_;
};

}  // namespace vramguard
