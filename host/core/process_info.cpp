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

// The state letter and the parent from /proc/PID/stat, whose second field (the name, in parentheses)
// may itself hold spaces and parentheses: the fields after it start after the last ')'.
bool read_stat(pid_t pid, char& state, pid_t& parent) {
  std::ifstream in(proc_path(pid, "stat"));
  std::string text((std::istreambuf_iterator<char>(in)), {});
  const auto close = text.rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream rest(text.substr(close + 1));
  long ppid = 0;
  if (!(rest >> state >> ppid)) return false;
  parent = static_cast<pid_t>(ppid);
  return true;
}

}  // namespace

std::optional<ProcessInfo> read_process(pid_t pid) {
  if (pid <= 0) return std::nullopt;
  char state = 0;
  ProcessInfo info;
  info.pid = pid;
  if (!read_stat(pid, state, info.parent) || state == 'Z' || state == 'X') return std::nullopt;
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
