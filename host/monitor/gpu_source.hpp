#pragma once
// Where monitor reads the GPUs from: NVML on a real machine (no CUDA context of its own, nvidia-smi's
// order), or simulated GPUs whose other programs are real processes or a usage timeline (--simulate,
// --simulate-process, --simulate-usage), so that every view and alert can be tested.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "config/invocation.hpp"
#include "devices/device_memory.hpp"

namespace vramguard {

struct GpuReading {
  int index = 0;
  std::string name;
  std::uint64_t total_bytes = 0;
  std::uint64_t used_bytes = 0;
  std::uint64_t free_bytes = 0;
  std::vector<GpuProcess> processes;  // largest first
};

class GpuSource {
 public:
  virtual ~GpuSource() = default;
  virtual std::string kind() const = 0;  // "nvml" or "simulated"
  virtual std::vector<GpuReading> read() = 0;
};

// Throws UsageError when there is neither NVML nor --simulate.
std::unique_ptr<GpuSource> make_gpu_source(const Invocation& invocation);

}  // namespace vramguard
