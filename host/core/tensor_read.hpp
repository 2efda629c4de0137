#pragma once
// Reading tensor bytes from a checkpoint with pread, never through a mapping: a file that shrinks
// while it is read then ends a read early, which is a clean error, where a mapping would raise SIGBUS.
#include <cstdint>
#include <string>
#include <vector>

#include "vramguard/dtype.hpp"

namespace vramguard {

// One tensor's bytes on the way to a device: where they are in the checkpoint, and the conversion.
struct UploadSource {
  int file = -1;                      // the checkpoint's descriptor: bytes are read with pread
  const std::string* path = nullptr;  // the checkpoint's path, for messages
  std::uint64_t file_offset = 0;      // of the tensor's first byte
  std::uint64_t elements = 0;
  DType from = DType::BF16;
  DType to = DType::BF16;
  // The file's read-only mapping, where the loader allows copying straight from the page cache (the
  // runtime registers the pages with the driver and DMAs from them); null: read with pread.
  const unsigned char* mapping = nullptr;
  // With a mapping: every reader thread copies from it, or a quarter of them do while the rest stage
  // (the two paths run side by side, so their rates add up to what the link takes).
  bool every_reader_maps = false;
  // Quantized as it is read (--weight-dtype COMPONENT=fp8; `to` is F8_E4M3): each element divided by its
  // scale, then the nearest e4m3 value. `quantize_scales` holds one scale, or one a row of
  // `scale_row_elements`; `tensor_file_offset` is the whole tensor's first byte, so that a piece of it
  // (file_offset further on) finds its rows' scales.
  const float* quantize_scales = nullptr;
  std::uint64_t scale_row_elements = 0;  // 0: one scale for the tensor
  std::uint64_t tensor_file_offset = 0;
  std::uint64_t source_bytes() const { return elements * dtype_bits(from) / 8; }
  std::uint64_t placed_bytes() const { return elements * dtype_bits(to) / 8; }
};

// Reads `bytes` at `offset` of `fd` into `out`; throws InputError naming `path` when the file ends early.
void read_exact(int fd, std::uint64_t offset, std::uint64_t bytes, unsigned char* out, const std::string& path);
// Reads a tensor's elements and converts them to source.to at `out` (source.placed_bytes() bytes).
void read_tensor(const UploadSource& source, unsigned char* out);
// The scales `source` (a whole tensor of `rows` rows, read as it is stored) quantizes to e4m3 with: one
// (its largest magnitude / 448, e4m3's largest value), or one a row when `per_row`. An all-zero tensor or
// row takes 1, so that its zeros stay zeros.
std::vector<float> read_fp8_scales(const UploadSource& source, std::uint64_t rows, bool per_row);
// A small tensor's values as float32, read from the file at `path` (what checks of values before a
// load read: initial noise, a LoRA's matrices, fp8 scales). InputError naming the file when it cannot be read.
std::vector<float> read_floats(const std::string& path, std::uint64_t offset, std::uint64_t elements, DType from);

}  // namespace vramguard
