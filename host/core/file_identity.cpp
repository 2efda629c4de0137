#include "core/file_identity.hpp"

namespace vramguard {

FileIdentity FileIdentity::of(const struct stat& st) {
  return {static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino),
          static_cast<std::uint64_t>(st.st_size),
          static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
}

std::string FileIdentity::difference_from(const FileIdentity& earlier) const {
  if (device != earlier.device || inode != earlier.inode) return "it was replaced by another file";
  if (size != earlier.size)
    return "its size changed from " + std::to_string(earlier.size) + " to " + std::to_string(size) + " bytes";
  if (modified_ns != earlier.modified_ns) return "it was modified";
  return "it is unchanged";
}

}  // namespace vramguard
