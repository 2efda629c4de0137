#pragma once
// A checkpoint file mapped read-only: tensor data is copied once, from the page cache to its
// destination, never through an intermediate buffer of ours.
#include <cstdint>
#include <string>

namespace vramguard {

class MappedFile {
 public:
  explicit MappedFile(const std::string& path);  // throws InputError
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const unsigned char* data() const { return data_; }
  int descriptor() const { return fd_; }  // for pread, which copies without faulting pages into our mapping
  std::uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  const unsigned char* data_ = nullptr;
  std::uint64_t size_ = 0;
  int fd_ = -1;
};

}  // namespace vramguard
