#include "diagnose/process_control.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include "core/process_info.hpp"

namespace vramguard {
namespace {

bool wait_until_gone(pid_t pid, std::chrono::milliseconds within) {
  const auto deadline = std::chrono::steady_clock::now() + within;
  while (process_alive(pid)) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

}  // namespace

std::string refusal_to_stop(const GpuProcess& process) {
  if (process.pid == 0) return "it is not a process vramguard can name";
  const auto info = read_process(static_cast<pid_t>(process.pid));
  if (!info) return "it has exited";
  if (info->uid != ::getuid()) return "it belongs to user " + info->user + ", not to you";
  const auto lineage = own_lineage();
  if (std::find(lineage.begin(), lineage.end(), static_cast<pid_t>(process.pid)) != lineage.end())
    return info->pid == ::getpid() ? "it is this vramguard process" : "it is an ancestor of this vramguard process (stopping it would stop vramguard)";
  return {};
}

StopOutcome stop_process(const GpuProcess& process, std::chrono::milliseconds grace) {
  StopOutcome outcome{process, false, false, ""};
  if (const std::string why = refusal_to_stop(process); !why.empty()) {
    outcome.error = why;
    return outcome;
  }
  const auto pid = static_cast<pid_t>(process.pid);
  if (::kill(pid, SIGTERM) != 0 && errno != ESRCH) {
    outcome.error = std::string("SIGTERM failed: ") + std::strerror(errno);
    return outcome;
  }
  if (wait_until_gone(pid, grace)) {
    outcome.stopped = true;
    return outcome;
  }
  outcome.killed = true;
  if (::kill(pid, SIGKILL) != 0 && errno != ESRCH) {
    outcome.error = std::string("SIGKILL failed: ") + std::strerror(errno);
    return outcome;
  }
  outcome.stopped = wait_until_gone(pid, std::chrono::seconds(5));
  if (!outcome.stopped) outcome.error = "it outlived SIGKILL for 5 s (stuck in the kernel or the driver)";
  return outcome;
}

}  // namespace vramguard
