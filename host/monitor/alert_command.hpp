#pragma once
// --on-alert CMD: runs CMD with /bin/sh for each alert, without waiting for it, the figures in
// environment variables: VRAMGUARD_ALERT_STATE (above or below), _GPU, _GPU_NAME, _USED_BYTES,
// _TOTAL_BYTES, _THRESHOLD_BYTES, _TIME (seconds since the epoch).
#include <string>
#include <sys/types.h>
#include <vector>

#include "monitor/alerts.hpp"

namespace vramguard {

class AlertCommand {
 public:
  explicit AlertCommand(std::string command) : command_(std::move(command)) {}
  ~AlertCommand();
  void run(const AlertEvent& event);
  // Reaps the commands that have finished (called on every sample).
  void reap();

 private:
  std::string command_;
  std::vector<pid_t> running_;
};

}  // namespace vramguard
