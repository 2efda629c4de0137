#pragma once
// Stopping processes that hold GPU memory, for `vramguard fix --terminate-own`: only the user's own,
// never this process or any of its ancestors, and only with the user's consent; SIGTERM first, then
// SIGKILL after a grace period.
#include <chrono>
#include <string>
#include <vector>

#include "devices/device_memory.hpp"

namespace vramguard {

// Why `process` may not be stopped on this user's behalf; empty when it may.
std::string refusal_to_stop(const GpuProcess& process);

struct StopOutcome {
  GpuProcess process;
  bool stopped = false;  // gone at the end
  bool killed = false;   // SIGTERM was not enough: SIGKILL after the grace period
  std::string error;     // why it could not be stopped
};

StopOutcome stop_process(const GpuProcess& process, std::chrono::milliseconds grace);

}  // namespace vramguard
