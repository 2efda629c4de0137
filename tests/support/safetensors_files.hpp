#pragma once
// Hand-made safetensors files for tests: a header given as JSON text, then `data_bytes` of data.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include <nlohmann/json.hpp>

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

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
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

// `from` written again at `to` as a single-file checkpoint does it: every tensor's name under `prefix`
// (ComfyUI's "model.diffusion_model."), with ComfyUI's empty `scaled_fp8` marker and a tensor of another
// part of the model beside them ("text_encoders.extra.weight", one F32).
inline std::filesystem::path single_file_checkpoint(const std::filesystem::path& from, const std::filesystem::path& to,
                                                    const std::string& prefix) {
  const std::string bytes = read_file(from);
  std::uint64_t length = 0;
  for (int i = 7; i >= 0; --i) length = (length << 8) | static_cast<unsigned char>(bytes[static_cast<std::size_t>(i)]);
  const auto header = nlohmann::json::parse(bytes.substr(8, length));
  std::string data = bytes.substr(8 + length);
  nlohmann::json renamed = nlohmann::json::object();
  for (const auto& [name, entry] : header.items())
    if (name != "__metadata__") renamed[prefix + name] = entry;
  const auto end = data.size();
  renamed["scaled_fp8"] = {{"dtype", "F8_E4M3"}, {"shape", {0}}, {"data_offsets", {end, end}}};
  renamed["text_encoders.extra.weight"] = {{"dtype", "F32"}, {"shape", {1}}, {"data_offsets", {end, end + 4}}};
  data.append(4, '\0');
  std::string text = renamed.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // keeps the data 8-byte aligned, as writers do
  return write_file(to, safetensors_bytes(text, 0) + data);
}

}  // namespace vramguard::testing
