#include "load/checkpoint_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/errors.hpp"

namespace vramguard {
namespace {

InputError changed(const std::string& path, const std::string& how) {
  return InputError(path, "changed since it was inspected: " + how,
                    "another program is writing the checkpoint; run again once it is complete");
}

}  // namespace

CheckpointFile::CheckpointFile(const std::string& path, const FileIdentity& inspected)
    : path_(path), identity_(inspected) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) throw InputError(path, std::string("cannot open: ") + std::strerror(errno));
  try {
    check_unchanged();
  } catch (...) {
    ::close(fd_);
    throw;
  }
}

CheckpointFile::~CheckpointFile() {
  if (mapping_ != nullptr) ::munmap(const_cast<unsigned char*>(mapping_), identity_.size);
  if (fd_ >= 0) ::close(fd_);
}

void CheckpointFile::check_unchanged() const {
  struct stat st {};
  if (::fstat(fd_, &st) != 0) throw InputError(path_, std::string("cannot stat: ") + std::strerror(errno));
  const FileIdentity now = FileIdentity::of(st);
  if (now != identity_) throw changed(path_, now.difference_from(identity_));
}

const unsigned char* CheckpointFile::mapping() {
  std::call_once(mapped_once_, [this] {
    check_unchanged();
    if (identity_.size == 0) return;
    void* mapped = ::mmap(nullptr, identity_.size, PROT_READ, MAP_SHARED, fd_, 0);
    if (mapped == MAP_FAILED) throw InputError(path_, std::string("cannot map: ") + std::strerror(errno));
    mapping_ = static_cast<const unsigned char*>(mapped);
  });
  return mapping_;
}

}  // namespace vramguard
