#pragma once
// Where GPU memory comes from. The CUDA runtime talks to real devices; the simulated runtime declares
// GPUs (a preset or a spec) and runs the same pipeline on machines without one.
#include <memory>
#include <string>
#include <vector>

#include "vramguard/device_budget.hpp"

namespace vramguard {

class DeviceRuntime {
 public:
  virtual ~DeviceRuntime() = default;
  virtual std::string name() const = 0;  // "cuda", "simulated"
  // The GPUs, with total and free bytes measured now (free after the CUDA context exists), the
  // context's size, and host→device bandwidth (measured once and cached, or declared).
  virtual std::vector<DeviceInfo> probe_gpus() = 0;
};

// The CUDA runtime, where this build has one (nullptr otherwise). Throws JobError when the driver
// or the devices cannot be used.
std::unique_ptr<DeviceRuntime> make_cuda_runtime();
bool cuda_runtime_compiled();

}  // namespace vramguard
