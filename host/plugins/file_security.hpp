#pragma once
// Loading a library runs its code with our privileges. A plugin that another user could have written,
// or replaced through any folder on its way from the root, is refused unless the user says otherwise;
// and the file that was checked is the file that is loaded (through its open descriptor), so nothing
// can swap it in between.
#include <cstdint>
#include <sys/stat.h>

#include <filesystem>
#include <optional>
#include <string>

namespace vramguard {

// A plugin file opened for checking and loading: the descriptor stays open until it is loaded.
class OpenedPlugin {
 public:
  // Resolves every symbolic link and opens the result. Throws std::runtime_error with the reason.
  explicit OpenedPlugin(const std::filesystem::path& file);
  ~OpenedPlugin();
  OpenedPlugin(const OpenedPlugin&) = delete;
  OpenedPlugin& operator=(const OpenedPlugin&) = delete;

  const std::filesystem::path& resolved() const { return resolved_; }
  int descriptor() const { return fd_; }
  std::uint64_t size() const { return static_cast<std::uint64_t>(stat_.st_size); }
  // A path that opens exactly this descriptor's file, for dlopen.
  std::string descriptor_path() const;
  // Keeps the descriptor open for the rest of the process: the dynamic loader knows a library by the
  // path it was opened through, and /proc/self/fd/N must never name another file while it is loaded.
  void keep_open_for_good() { fd_ = -1; }
  // Why another user could have written this file or replaced it; nullopt when nobody but root and
  // us could. Every folder from the root down must belong to root or us and be writable by neither
  // group nor others, except a sticky folder such as /tmp, where only an entry's owner can replace it:
  // there the entry below must belong to root or us (sudo judges paths the same way).
  std::optional<std::string> insecure_reason() const;

 private:
  std::filesystem::path resolved_;
  int fd_ = -1;
  struct stat stat_ {};
};

}  // namespace vramguard
