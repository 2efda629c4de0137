#pragma once
// A checkpoint file held open for loading and streaming. It must be the file that was inspected (same
// identity); bytes are read with pread (a file that shrinks then fails cleanly, where a mapping would
// raise SIGBUS); the read-only mapping exists only to register pages with the GPU driver.
#include <cstdint>
#include <mutex>
#include <string>

#include "core/file_identity.hpp"

namespace vramguard {

class CheckpointFile {
 public:
  // Throws InputError when the file cannot be opened or is not the file that was inspected.
  CheckpointFile(const std::string& path, const FileIdentity& inspected);
  ~CheckpointFile();
  CheckpointFile(const CheckpointFile&) = delete;
  CheckpointFile& operator=(const CheckpointFile&) = delete;

  int descriptor() const { return fd_; }
  const std::string& path() const { return path_; }
  std::uint64_t size() const { return identity_.size; }
  // Throws InputError when the file on disk is no longer the one opened.
  void check_unchanged() const;
  // The whole file mapped read-only (once; checked unchanged first). Not for reading by the CPU: a
  // truncated file would raise SIGBUS there. It is what the driver registers for direct copies.
  const unsigned char* mapping();

 private:
  std::string path_;
  FileIdentity identity_;
  int fd_ = -1;
  std::once_flag mapped_once_;
  const unsigned char* mapping_ = nullptr;
};

}  // namespace vramguard
