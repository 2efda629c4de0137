#include "core/tensor_read.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "core/dtype_conversion.hpp"
#include "core/errors.hpp"

namespace vramguard {

void read_exact(int fd, std::uint64_t offset, std::uint64_t bytes, unsigned char* out, const std::string& path) {
  std::uint64_t done = 0;
  while (done < bytes) {
    const ssize_t n = ::pread(fd, out + done, bytes - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw InputError(path, std::string("reading it failed: ") + std::strerror(errno));
    if (n == 0)
      throw InputError(
          path,
          "it ended " + std::to_string(bytes - done) + " bytes before a tensor's end: it shrank after it was inspected",
          "another program changed the checkpoint while vramguard read it; run again once it is complete");
    done += static_cast<std::uint64_t>(n);
  }
}

void read_tensor(const UploadSource& source, unsigned char* out) {
  static const std::string unknown = "the checkpoint";
  const std::string& path = source.path ? *source.path : unknown;
  if (source.from == source.to) {
    read_exact(source.file, source.file_offset, source.source_bytes(), out, path);
    return;
  }
  // Conversions go through a bounded buffer per thread, a chunk at a time.
  constexpr std::uint64_t kChunkElements = 1 << 20;
  thread_local std::vector<unsigned char> scratch;
  const unsigned in = dtype_bits(source.from) / 8, width = dtype_bits(source.to) / 8;
  for (std::uint64_t first = 0; first < source.elements; first += kChunkElements) {
    const std::uint64_t n = std::min(kChunkElements, source.elements - first);
    scratch.resize(n * in);
    read_exact(source.file, source.file_offset + first * in, n * in, scratch.data(), path);
    convert_elements(scratch.data(), source.from, out + first * width, source.to, n);
  }
}

std::vector<float> read_floats(const std::string& path, std::uint64_t offset, std::uint64_t elements, DType from) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) throw InputError(path, std::string("cannot be opened: ") + std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  std::vector<float> values(elements);
  UploadSource source;
  source.file = fd;
  source.path = &path;
  source.file_offset = offset;
  source.elements = elements;
  source.from = from;
  source.to = DType::F32;
  read_tensor(source, reinterpret_cast<unsigned char*>(values.data()));
  return values;
}

}  // namespace vramguard
