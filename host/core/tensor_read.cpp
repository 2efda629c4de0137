#include "core/tensor_read.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cerrno>
#include <cstring>
#include <limits>
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

namespace {

// Elements of a chunk read at a time: a bounded buffer per thread.
constexpr std::uint64_t kChunkElements = 1 << 20;

// The checkpoint's path for messages.
const std::string& path_of(const UploadSource& source) {
  static const std::string unknown = "the checkpoint";
  return source.path ? *source.path : unknown;
}

// The largest magnitude among `n` elements stored as `dtype`, NaNs left out (as std::max leaves them
// out). For bf16, fp16 and fp32 it is read from the bits: clearing the sign leaves integers ordered as
// the magnitudes, and NaNs above the infinity's pattern; a scale pass then runs at the memory's speed
// rather than a conversion's.
float largest_magnitude(const unsigned char* data, DType dtype, std::uint64_t n, std::vector<float>& scratch) {
  auto largest_bits = [&](auto word, std::uint64_t magnitude_mask, std::uint64_t infinity) {
    using Word = decltype(word);
    Word best = 0;
    for (std::uint64_t i = 0; i < n; ++i) {
      Word bits;
      std::memcpy(&bits, data + i * sizeof(Word), sizeof(Word));
      const Word magnitude = static_cast<Word>(bits & magnitude_mask);
      best = std::max(best, magnitude <= infinity ? magnitude : Word{0});
    }
    return best;
  };
  switch (dtype) {
    case DType::BF16: return bf16_to_float(largest_bits(std::uint16_t{}, 0x7FFF, 0x7F80));
    case DType::F32: {
      const std::uint32_t bits = largest_bits(std::uint32_t{}, 0x7FFFFFFF, 0x7F800000);
      float value;
      std::memcpy(&value, &bits, 4);
      return value;
    }
    case DType::F16: {
      const std::uint16_t bits = largest_bits(std::uint16_t{}, 0x7FFF, 0x7C00);
      float value;
      convert_elements(reinterpret_cast<const unsigned char*>(&bits), DType::F16,
                       reinterpret_cast<unsigned char*>(&value), DType::F32, 1);
      return value;
    }
    default: {
      scratch.resize(n);
      convert_elements(data, dtype, reinterpret_cast<unsigned char*>(scratch.data()), DType::F32, n);
      float best = 0;
      for (const float v : scratch) best = std::max(best, std::fabs(v));
      return best;
    }
  }
}

// `n` elements stored as `from` at `data`, each divided by `scale` and rounded to e4m3 at `out`. bf16 is
// converted in place of the generic path (a shift, no intermediate buffer); the division is float32's,
// so that the bytes are those PyTorch's `(w / scale).to(torch.float8_e4m3fn)` makes.
void quantize_run(const unsigned char* data, DType from, std::uint64_t n, float scale, unsigned char* out,
                  std::vector<float>& scratch) {
  if (from == DType::BF16) {
    // With one scale, each of bf16's 65,536 patterns has one result: a table made once per scale (per
    // thread) turns the element's division and rounding into a lookup, where the run is long enough to
    // pay for it or the scale is the last one's (a tensor's pieces, one scale).
    thread_local std::array<std::uint8_t, 65536> table{};
    thread_local float table_scale = std::numeric_limits<float>::quiet_NaN();
    if (scale != table_scale && n >= table.size()) {
      for (std::uint32_t bits = 0; bits < table.size(); ++bits)
        table[bits] = fp8_e4m3_from_float(bf16_to_float(static_cast<std::uint16_t>(bits)) / scale);
      table_scale = scale;
    }
    const bool lookup = scale == table_scale;
    for (std::uint64_t i = 0; i < n; ++i) {
      std::uint16_t bits;
      std::memcpy(&bits, data + i * 2, 2);
      out[i] = lookup ? table[bits] : fp8_e4m3_from_float(bf16_to_float(bits) / scale);
    }
    return;
  }
  scratch.resize(n);
  convert_elements(data, from, reinterpret_cast<unsigned char*>(scratch.data()), DType::F32, n);
  for (std::uint64_t i = 0; i < n; ++i) out[i] = fp8_e4m3_from_float(scratch[i] / scale);
}

}  // namespace

void read_tensor(const UploadSource& source, unsigned char* out) {
  const std::string& path = path_of(source);
  if (source.from == source.to && source.quantize_scales == nullptr) {
    read_exact(source.file, source.file_offset, source.source_bytes(), out, path);
    return;
  }
  // Conversions go through a bounded buffer per thread, a chunk at a time.
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
    // The element's index in the whole tensor: a piece of it starts past tensor_file_offset. Each run of
    // elements within one row takes that row's scale.
    const std::uint64_t index = (source.file_offset - source.tensor_file_offset) / in + first;
    for (std::uint64_t done = 0; done < n;) {
      const std::uint64_t row = source.scale_row_elements ? (index + done) / source.scale_row_elements : 0;
      const std::uint64_t run = source.scale_row_elements
                                    ? std::min(n - done, (row + 1) * source.scale_row_elements - (index + done))
                                    : n - done;
      quantize_run(scratch.data() + done * in, source.from, run, source.quantize_scales[row], out + first + done,
                   values);
      done += run;
    }
  }
}

std::vector<float> read_fp8_scales(const UploadSource& source, std::uint64_t rows, bool per_row) {
  constexpr float kE4m3Largest = 448.0f;
  const std::uint64_t row_elements = source.elements / std::max<std::uint64_t>(1, rows);
  std::vector<float> amax(per_row ? rows : 1, 0.0f);
  const std::string& path = path_of(source);
  const unsigned in = dtype_bits(source.from) / 8;
  thread_local std::vector<unsigned char> scratch;
  thread_local std::vector<float> values;
  // Whole rows a chunk (at least one), so that each row's largest magnitude is one pass over its bytes.
  const std::uint64_t chunk_rows =
      std::max<std::uint64_t>(1, kChunkElements / std::max<std::uint64_t>(1, row_elements));
  for (std::uint64_t first = 0; first < rows; first += chunk_rows) {
    const std::uint64_t n = std::min(chunk_rows, rows - first);
    scratch.resize(n * row_elements * in);
    read_exact(source.file, source.file_offset + first * row_elements * in, n * row_elements * in, scratch.data(),
               path);
    for (std::uint64_t r = 0; r < n; ++r) {
      float& largest = amax[per_row ? first + r : 0];
      largest = std::max(largest,
                         largest_magnitude(scratch.data() + r * row_elements * in, source.from, row_elements, values));
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
