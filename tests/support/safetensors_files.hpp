#pragma once
// Hand-made safetensors files for tests: a header given as JSON text, then `data_bytes` of data.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

namespace vramguard::testing {

inline std::string safetensors_bytes(const std::string& header_json, std::uint64_t data_bytes,
                                     std::uint64_t declared_length = UINT64_MAX) {
  const std::uint64_t length = declared_length == UINT64_MAX ? header_json.size() : declared_length;
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[static_cast<std::size_t>(i)] = static_cast<char>((length >> (8 * i)) & 0xFF);
  bytes += header_json;
  bytes.append(data_bytes, '\0');
  return bytes;
}

inline std::filesystem::path write_file(const std::filesystem::path& path, const std::string& bytes) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

// {"name": {"dtype": ..., "shape": [...], "data_offsets": [b, e]}} for a list of F32 vectors laid end to end.
inline std::string f32_header(std::initializer_list<std::pair<std::string, std::uint64_t>> tensors) {
  std::string json = "{";
  std::uint64_t offset = 0;
  bool first = true;
  for (const auto& [name, elements] : tensors) {
    if (!first) json += ",";
    first = false;
    json += "\"" + name + "\":{\"dtype\":\"F32\",\"shape\":[" + std::to_string(elements) + "],\"data_offsets\":[" +
            std::to_string(offset) + "," + std::to_string(offset + elements * 4) + "]}";
    offset += elements * 4;
  }
  return json + "}";
}

}  // namespace vramguard::testing
