#include "core/tensor_read.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
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
  if (source.from == source.to && source.quantize_scales == nullptr) {
    read_exact(source.file, source.file_offset, source.source_bytes(), out, path);
    return;
  }
  // Conversions go through a bounded buffer per thread, a chunk at a time.
  constexpr std::uint64_t kChunkElements = 1 << 20;
  thread_local std::vector<unsigned char> scratch;
  thread_local std::vector<float> values;
  const unsigned in = dtype_bits(source.from) / 8, width = dtype_bits(source.to) / 8;
  for (std::uint64_t first = 0; first < source.elements; first += kChunkElements) {
    const std::uint64_t n = std::min(kChunkElements, source.elements - first);
    scratch.resize(n * in);
    read_exact(source.file, source.file_offset + first * in, n * in, scratch.data(), path);
    if (source.quantize_scales == nullptr) {
      convert_elements(scratch.data(), source.from, out + first * width, source.to, n);
      continue;
    }
    values.resize(n);
    convert_elements(scratch.data(), source.from, reinterpret_cast<unsigned char*>(values.data()), DType::F32, n);
    // The element's index in the whole tensor: a piece of it starts past tensor_file_offset.
    const std::uint64_t index = (source.file_offset - source.tensor_file_offset) / in + first;
    for (std::uint64_t i = 0; i < n; ++i) {
      const float scale =
          source.quantize_scales[source.scale_row_elements ? (index + i) / source.scale_row_elements : 0];
      out[first + i] = fp8_e4m3_from_float(values[i] / scale);
    }
  }
}

std::vector<float> read_fp8_scales(const UploadSource& source, std::uint64_t rows, bool per_row) {
  constexpr float kE4m3Largest = 448.0f;
  const std::uint64_t row_elements = source.elements / std::max<std::uint64_t>(1, rows);
  std::vector<float> amax(per_row ? rows : 1, 0.0f);
  UploadSource as_floats = source;
  as_floats.to = DType::F32;
  as_floats.quantize_scales = nullptr;
  constexpr std::uint64_t kChunkRows = 1 << 12;
  std::vector<float> values;
  const unsigned in = dtype_bits(source.from) / 8;
  for (std::uint64_t first = 0; first < rows; first += kChunkRows) {
    const std::uint64_t n = std::min(kChunkRows, rows - first);
    as_floats.file_offset = source.file_offset + first * row_elements * in;
    as_floats.elements = n * row_elements;
    values.resize(as_floats.elements);
    read_tensor(as_floats, reinterpret_cast<unsigned char*>(values.data()));
    for (std::uint64_t r = 0; r < n; ++r) {
      float& largest = amax[per_row ? first + r : 0];
      for (std::uint64_t i = 0; i < row_elements; ++i)
        largest = std::max(largest, std::fabs(values[r * row_elements + i]));
    }
  }
  for (auto& scale : amax) scale = scale > 0 ? scale / kE4m3Largest : 1.0f;
  return amax;
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
