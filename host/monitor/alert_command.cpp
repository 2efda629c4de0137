#include "monitor/alert_command.hpp"

#include <sys/syscall.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "logging/log.hpp"

namespace vramguard {

AlertCommand::~AlertCommand() {
  // The commands may outlive the monitor; only their exit statuses are collected here.
  reap();
}

void AlertCommand::run(const AlertEvent& e) {
  char time[32];
  std::snprintf(time, sizeof time, "%.3f", e.time);
  const std::vector<std::pair<std::string, std::string>> variables = {
      {"VRAMGUARD_ALERT_STATE", e.above ? "above" : "below"},
      {"VRAMGUARD_ALERT_GPU", std::to_string(e.gpu)},
      {"VRAMGUARD_ALERT_GPU_NAME", e.name},
      {"VRAMGUARD_ALERT_USED_BYTES", std::to_string(e.used_bytes)},
      {"VRAMGUARD_ALERT_TOTAL_BYTES", std::to_string(e.total_bytes)},
      {"VRAMGUARD_ALERT_THRESHOLD_BYTES", std::to_string(e.threshold_bytes)},
      {"VRAMGUARD_ALERT_TIME", time}};
  const pid_t pid = ::fork();
  if (pid < 0) {
    log::warn("could not start the --on-alert command: fork failed");
    return;
  }
  if (pid == 0) {
    // The command gets standard input, output and error, nothing else of ours: a listening socket it
    // inherited would keep the port after the monitor exits, and its clients waiting.
    if (::syscall(SYS_close_range, 3U, ~0U, 0U) != 0)
      for (long fd = 3, last = ::sysconf(_SC_OPEN_MAX); fd < (last > 0 ? last : 1024); ++fd)
        ::close(static_cast<int>(fd));
    for (const auto& [name, value] : variables) ::setenv(name.c_str(), value.c_str(), 1);
    ::execl("/bin/sh", "sh", "-c", command_.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  running_.push_back(pid);
}

void AlertCommand::reap() {
  running_.erase(std::remove_if(running_.begin(), running_.end(),
                                [](pid_t pid) {
                                  int status = 0;
                                  const pid_t done = ::waitpid(pid, &status, WNOHANG);
                                  if (done == pid && WIFEXITED(status) && WEXITSTATUS(status) != 0)
                                    log::warn("the --on-alert command exited with ", WEXITSTATUS(status));
                                  return done == pid || done < 0;
                                }),
                 running_.end());
}

}  // namespace vramguard
