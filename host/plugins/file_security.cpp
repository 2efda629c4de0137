#include "plugins/file_security.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace vramguard {
namespace {

bool trusted_owner(uid_t owner) { return owner == 0 || owner == ::geteuid(); }

std::string owner_text(uid_t owner) { return "belongs to another user (uid " + std::to_string(owner) + ")"; }

}  // namespace

OpenedPlugin::OpenedPlugin(const std::filesystem::path& file) {
  std::error_code ec;
  resolved_ = std::filesystem::canonical(file, ec);
  if (ec) throw std::runtime_error("cannot be resolved: " + ec.message());
  fd_ = ::open(resolved_.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd_ < 0) throw std::runtime_error(std::string("cannot be opened: ") + std::strerror(errno));
  if (::fstat(fd_, &stat_) != 0) throw std::runtime_error(std::string("cannot be examined: ") + std::strerror(errno));
  if (!S_ISREG(stat_.st_mode)) throw std::runtime_error("is not a regular file");
}

OpenedPlugin::~OpenedPlugin() {
  if (fd_ >= 0) ::close(fd_);
}

std::string OpenedPlugin::descriptor_path() const { return "/proc/self/fd/" + std::to_string(fd_); }

std::optional<std::string> OpenedPlugin::insecure_reason() const {
  if (stat_.st_mode & (S_IWGRP | S_IWOTH))
    return "the file " + resolved_.string() + " is writable by " +
           (stat_.st_mode & S_IWOTH ? "every user" : "its group");
  if (!trusted_owner(stat_.st_uid)) return "the file " + resolved_.string() + " " + owner_text(stat_.st_uid);

  // Every folder above it, from the root down: the canonical path has no links, and a folder swapped
  // for a link since shows as one here (lstat).
  std::vector<std::filesystem::path> folders;
  for (auto folder = resolved_.parent_path();; folder = folder.parent_path()) {
    folders.push_back(folder);
    if (folder == folder.root_path() || folder.empty()) break;
  }
  uid_t below_owner = stat_.st_uid;     // the owner of the entry beneath the folder being judged
  for (const auto& folder : folders) {  // from the file's own folder up to the root
    struct stat st {};
    if (::lstat(folder.c_str(), &st) != 0) return "its folder " + folder.string() + " cannot be examined";
    if (S_ISLNK(st.st_mode)) return "its folder " + folder.string() + " became a symbolic link";
    if (!trusted_owner(st.st_uid)) return "its folder " + folder.string() + " " + owner_text(st.st_uid);
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
      const bool sticky = st.st_mode & S_ISVTX;
      if (!sticky)
        return "its folder " + folder.string() + " is writable by " +
               (st.st_mode & S_IWOTH ? "every user" : "its group") + ", who could replace what is in it";
      if (!trusted_owner(below_owner))
        return "its folder " + folder.string() + " is sticky and shared, and the entry in it " +
               owner_text(below_owner);
    }
    below_owner = st.st_uid;
  }
  return std::nullopt;
}

}  // namespace vramguard
