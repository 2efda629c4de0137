#include "core/process_info.hpp"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <sstream>

namespace vramguard {
namespace {

std::string proc_path(pid_t pid, const char* leaf) { return "/proc/" + std::to_string(pid) + "/" + leaf; }

// Fields of /proc/PID/stat, whose second field (the name, in parentheses) may itself hold spaces and
// parentheses: the fields after it start after the last ')'.
struct Stat {
  char state = 0;
  pid_t parent = 0;
  pid_t session = 0;
  std::uint64_t start_ticks = 0;  // clock ticks after boot: with the pid, names one process for good
  unsigned long flags = 0;
};

bool read_stat(pid_t pid, Stat& out) {
  std::ifstream in(proc_path(pid, "stat"));
  std::string text((std::istreambuf_iterator<char>(in)), {});
  const auto close = text.rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream rest(text.substr(close + 1));
  // Fields 3..22: state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime
  // cutime cstime priority nice num_threads itrealvalue starttime.
  long ppid = 0, pgrp = 0, session = 0, skip = 0;
  if (!(rest >> out.state >> ppid >> pgrp >> session >> skip >> skip >> out.flags)) return false;
  for (int field = 10; field <= 21; ++field)
    if (!(rest >> skip)) return false;
  if (!(rest >> out.start_ticks)) return false;
  out.parent = static_cast<pid_t>(ppid);
  out.session = static_cast<pid_t>(session);
  return true;
}

}  // namespace

std::optional<ProcessInfo> read_process(pid_t pid) {
  if (pid <= 0) return std::nullopt;
  Stat stat_fields;
  ProcessInfo info;
  info.pid = pid;
  if (!read_stat(pid, stat_fields) || stat_fields.state == 'Z' || stat_fields.state == 'X') return std::nullopt;
  info.parent = stat_fields.parent;
  info.session = stat_fields.session;
  info.start_ticks = stat_fields.start_ticks;
  constexpr unsigned long kKernelThread = 0x00200000;  // PF_KTHREAD
  info.kernel_thread = (stat_fields.flags & kKernelThread) != 0 || pid == 2 || stat_fields.parent == 2;
  struct stat st {};
  if (::stat(("/proc/" + std::to_string(pid)).c_str(), &st) != 0) return std::nullopt;
  info.uid = st.st_uid;
  if (const passwd* pw = ::getpwuid(st.st_uid)) info.user = pw->pw_name;
  else info.user = std::to_string(st.st_uid);
  std::ifstream comm(proc_path(pid, "comm"));
  std::getline(comm, info.name);
  std::ifstream cmdline(proc_path(pid, "cmdline"), std::ios::binary);
  std::string raw((std::istreambuf_iterator<char>(cmdline)), {});
  while (!raw.empty() && raw.back() == '\0') raw.pop_back();
  for (char& c : raw)
    if (c == '\0') c = ' ';
  info.command = raw;
  if (info.name.empty()) info.name = "(unknown)";
  return info;
}

bool process_alive(pid_t pid) { return read_process(pid).has_value(); }

std::vector<pid_t> own_lineage() {
  std::vector<pid_t> lineage;
  pid_t pid = ::getpid();
  for (int depth = 0; pid > 0 && depth < 4096; ++depth) {
    lineage.push_back(pid);
    const auto info = read_process(pid);
    if (!info || info->parent == pid) break;
    pid = info->parent;
  }
  return lineage;
}

}  // namespace vramguard
