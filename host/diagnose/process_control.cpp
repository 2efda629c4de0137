#include "diagnose/process_control.hpp"

#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include "core/process_info.hpp"

namespace vramguard {
namespace {

// The same process: that pid, started at that moment (a pid freed by an exit is soon another's).
bool same_process(pid_t pid, std::uint64_t start_ticks) {
  const auto info = read_process(pid);
  return info && info->start_ticks == start_ticks;
}

bool wait_until_gone(pid_t pid, std::uint64_t start_ticks, std::chrono::milliseconds within) {
  const auto deadline = std::chrono::steady_clock::now() + within;
  while (same_process(pid, start_ticks)) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

}  // namespace

// Programs a desktop or the driver cannot do without, whoever runs them.
const char* const kSystemPrograms[] = {"systemd",
                                       "init",
                                       "Xorg",
                                       "X",
                                       "Xwayland",
                                       "gnome-shell",
                                       "mutter",
                                       "kwin_wayland",
                                       "kwin_x11",
                                       "plasmashell",
                                       "sway",
                                       "weston",
                                       "gdm",
                                       "gdm3",
                                       "sddm",
                                       "lightdm",
                                       "nvidia-persistenced",
                                       "nvidia-powerd",
                                       "dbus-daemon",
                                       "sshd"};

std::string refusal_to_stop(const GpuProcess& process) {
  if (process.pid == 0) return "it is not a process vramguard can name";
  const auto info = read_process(static_cast<pid_t>(process.pid));
  if (!info) return "it has exited";
  if (info->pid == 1) return "it is the system's first process (PID 1)";
  if (info->kernel_thread) return "it is a kernel thread";
  if (info->uid != ::getuid()) return "it belongs to user " + info->user + ", not to you";
  for (const char* name : kSystemPrograms)
    if (info->name == name) return "it is a system program (" + info->name + ")";
  // Root owns every system process: as root, only what this login session started is "yours".
  if (::getuid() == 0 && info->session != ::getsid(0))
    return "it was not started from this session (as root, fix stops only the processes this session started)";
  const auto lineage = own_lineage();
  if (std::find(lineage.begin(), lineage.end(), static_cast<pid_t>(process.pid)) != lineage.end())
    return info->pid == ::getpid() ? "it is this vramguard process"
                                   : "it is an ancestor of this vramguard process (stopping it would stop vramguard)";
  return {};
}

std::uint64_t start_ticks_of(const GpuProcess& process) {
  const auto info = read_process(static_cast<pid_t>(process.pid));
  return info ? info->start_ticks : 0;
}

StopOutcome stop_process(const GpuProcess& process, std::uint64_t start_ticks, std::chrono::milliseconds grace) {
  StopOutcome outcome{process, false, false, ""};
  if (const std::string why = refusal_to_stop(process); !why.empty()) {
    outcome.error = why;
    return outcome;
  }
  const auto pid = static_cast<pid_t>(process.pid);
  // A pidfd names the process itself: once it is open and the process checked, no later signal can
  // reach another that took its pid. Where the kernel has none (before 5.3), the check comes just
  // before each kill.
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  auto signal = [&](int number) {
    if (!same_process(pid, start_ticks)) {
      errno = ESRCH;
      return false;
    }
    if (pidfd >= 0) return ::syscall(SYS_pidfd_send_signal, pidfd, number, nullptr, 0) == 0;
    return ::kill(pid, number) == 0;
  };
  auto finish = [&]() {
    if (pidfd >= 0) ::close(pidfd);
    return outcome;
  };
  if (!same_process(pid, start_ticks)) {
    outcome.error =
        read_process(pid)
            ? "the process listed has exited, and its pid now belongs to another process, which was left alone"
            : "it exited before it was signalled";
    return finish();
  }
  if (!signal(SIGTERM) && errno != ESRCH) {
    outcome.error = std::string("SIGTERM failed: ") + std::strerror(errno);
    return finish();
  }
  if (wait_until_gone(pid, start_ticks, grace)) {
    outcome.stopped = true;
    return finish();
  }
  outcome.killed = true;
  if (!signal(SIGKILL) && errno != ESRCH) {
    outcome.error = std::string("SIGKILL failed: ") + std::strerror(errno);
    return finish();
  }
  outcome.stopped = wait_until_gone(pid, start_ticks, std::chrono::seconds(5));
  if (!outcome.stopped) outcome.error = "it outlived SIGKILL for 5 s (stuck in the kernel or the driver)";
  return finish();
}

}  // namespace vramguard
