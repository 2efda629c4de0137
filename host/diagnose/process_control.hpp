#pragma once
// Stopping processes that hold GPU memory, for `vramguard fix --terminate-own`: only the user's own,
// never this process or any of its ancestors, never PID 1, a kernel thread or a system program, and as
// root only what this login session started; only with the user's consent; SIGTERM first, then
// SIGKILL after a grace period, each sent only to the very process that was listed (pid and start time).
#include <chrono>
#include <cstdint>
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

// When the process started (clock ticks after boot; 0 when it is gone): taken when it is listed, so that
// stop_process can tell it from a later process that took its pid.
std::uint64_t start_ticks_of(const GpuProcess& process);
StopOutcome stop_process(const GpuProcess& process, std::uint64_t start_ticks, std::chrono::milliseconds grace);

}  // namespace vramguard
