#include "model/safetensors_writer.hpp"

#include <nlohmann/json.hpp>

#include "core/output_file.hpp"

namespace vramguard {

void write_safetensors(const std::filesystem::path& file, const std::vector<TensorToWrite>& tensors) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  header["__metadata__"] = {{"format", "pt"}, {"generated_by", "vramguard"}};
  std::uint64_t offset = 0;
  std::vector<std::uint64_t> sizes;
  for (const auto& t : tensors) {
    std::uint64_t elements = 1;
    for (auto d : t.shape) elements *= static_cast<std::uint64_t>(d);
    const std::uint64_t bytes = elements * dtype_bits(t.dtype) / 8;
    header[t.name] = {
        {"dtype", std::string(dtype_name(t.dtype))}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
    sizes.push_back(bytes);
    offset += bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  std::string content(8, '\0');
  for (int i = 0; i < 8; ++i) content[static_cast<std::size_t>(i)] = static_cast<char>((text.size() >> (8 * i)) & 0xFF);
  content += text;
  content.reserve(content.size() + offset);
  for (std::size_t i = 0; i < tensors.size(); ++i) content.append(static_cast<const char*>(tensors[i].data), sizes[i]);
  write_output_file(file, content, "the tensors");
}

}  // namespace vramguard
