#include "plugins/file_security.hpp"

#include <sys/stat.h>
#include <unistd.h>

namespace vramguard {
namespace {

std::optional<std::string> writable_by_others(const std::filesystem::path& path, const char* what) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::string(what) + " " + path.string() + " cannot be examined";
  if (st.st_mode & S_IWOTH) return std::string(what) + " " + path.string() + " is writable by every user";
  if (st.st_uid != 0 && st.st_uid != ::geteuid())
    return std::string(what) + " " + path.string() + " belongs to another user (uid " + std::to_string(st.st_uid) + ")";
  return std::nullopt;
}

}  // namespace

std::optional<std::string> insecure_plugin_reason(const std::filesystem::path& file) {
  if (auto reason = writable_by_others(file, "the file")) return reason;
  return writable_by_others(file.parent_path().empty() ? "." : file.parent_path(), "its directory");
}

}  // namespace vramguard
