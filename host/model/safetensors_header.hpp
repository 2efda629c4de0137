#pragma once
// The safetensors format: an 8-byte little-endian header length N, N bytes of JSON
// {"name": {"dtype": "BF16", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}},
// then the data area; offsets are relative to the data area. Everything is validated before anything
// trusts it; a violation is a CheckpointError naming the file, the tensor and the problem.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/file_identity.hpp"
#include "vramguard/dtype.hpp"

namespace vramguard {

inline constexpr std::uint64_t kSafetensorsMaxHeaderBytes = 100'000'000;  // the format's cap

struct SafetensorsEntry {
  std::string name;
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;
  std::uint64_t elements = 0;
  std::uint64_t begin = 0;  // relative to the data area
  std::uint64_t end = 0;
  std::uint64_t bytes() const { return end - begin; }
};

struct SafetensorsHeader {
  FileIdentity identity;  // of the file the header was read from (read_safetensors_header)
  std::uint64_t header_bytes = 0;
  std::uint64_t data_offset = 0;          // 8 + header_bytes: where the data area starts in the file
  std::vector<SafetensorsEntry> tensors;  // in data-offset order
  std::map<std::string, std::string> metadata;
};

// `prefix` holds at least the first min(file_size, 8 + header length) bytes of the file.
SafetensorsHeader parse_safetensors_header(std::string_view prefix, std::uint64_t file_size,
                                           const std::string& file_name);

// Reads and validates the header of a file on disk (reads the header only, never tensor data).
SafetensorsHeader read_safetensors_header(const std::string& path);

}  // namespace vramguard
