#pragma once
// Which file, exactly: device, inode, size and modification time, as fstat gives them on the descriptor
// that was read. A checkpoint's identity is taken when its header is read, and every later open
// (loading, verifying, streaming) must find the same file, or it is refused: the file changed since.
#include <sys/stat.h>

#include <cstdint>
#include <string>

namespace vramguard {

struct FileIdentity {
  std::uint64_t device = 0;
  std::uint64_t inode = 0;
  std::uint64_t size = 0;
  std::int64_t modified_ns = 0;

  static FileIdentity of(const struct stat& st);
  bool operator==(const FileIdentity&) const = default;
  // "its size changed from X to Y bytes", "it was replaced by another file"...
  std::string difference_from(const FileIdentity& earlier) const;
};

}  // namespace vramguard
