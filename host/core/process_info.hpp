#pragma once
// What the system says about a process (from /proc): who runs it, what it is, whether it still lives,
// and this process's own ancestry. doctor and fix name the processes that hold GPU memory with it.
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace vramguard {

struct ProcessInfo {
  pid_t pid = 0;
  pid_t parent = 0;
  uid_t uid = 0;
  std::string user;               // the login name, or the uid when it has none
  std::string name;               // /proc/PID/comm
  std::string command;            // the command line, arguments separated by spaces (empty for kernel threads)
  pid_t session = 0;              // the session it was started in (setsid's), as /proc says
  std::uint64_t start_ticks = 0;  // when it started, in clock ticks after boot: with the pid, one process for good
  bool kernel_thread = false;
};

// nullopt when there is no such process, or it has exited (a zombie holds no memory).
std::optional<ProcessInfo> read_process(pid_t pid);
bool process_alive(pid_t pid);
// This process and every process above it, up to init: never to be stopped on this process's behalf.
std::vector<pid_t> own_lineage();

}  // namespace vramguard
