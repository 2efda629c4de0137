// Inspection time, headers only: the full-size Qwen-Image-Edit-shaped pipeline (2,856 tensors in 14
// files, 57.7 GB of bf16, sparse; target under 50 ms), and one file whose header lists 300,000 tensors
// (a 24 MB header, under the format's 100 MB limit; target under 1 s: parsing used to be quadratic).
#include <filesystem>
#include <fstream>

#include "bench/bench_support.hpp"
#include "model/model_inspector.hpp"
#include "model/safetensors_header.hpp"
#include "synth/checkpoint_writer.hpp"

int main() {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("vramguard-bench-inspect-" + std::to_string(::getpid()));
  vramguard::write_checkpoint(vramguard::synthetic_architecture("qwen-image-edit", "full", false), dir, {});
  vramguard::InspectOptions options;
  options.target_dtype = vramguard::DType::BF16;
  std::size_t tensors = 0;
  const auto timing = vramguard::bench::time_runs(25, [&] {
    const auto model = vramguard::inspect_model(dir.string(), {}, options);
    tensors = 0;
    for (const auto& c : model.graph.components) tensors += c.tensor_count();
  });
  vramguard::bench::report("inspect qwen-image-edit full (" + std::to_string(tensors) + " tensors)", timing, 50);

  const int count = 300'000;
  std::string header = "{";
  for (int i = 0; i < count; ++i)
    header += std::string(i ? "," : "") + "\"blocks." + std::to_string(i) +
              ".weight\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[" + std::to_string(4 * i) + "," +
              std::to_string(4 * i + 4) + "]}";
  header += "}";
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[static_cast<std::size_t>(i)] = static_cast<char>((header.size() >> (8 * i)) & 0xFF);
  bytes += header;
  bytes.append(static_cast<std::size_t>(4) * count, '\0');
  const fs::path file = dir / "many.safetensors";
  std::ofstream(file, std::ios::binary) << bytes;
  const auto many = vramguard::bench::time_runs(3, [&] { (void)vramguard::read_safetensors_header(file.string()); });
  vramguard::bench::report("header of 300,000 tensors (" + std::to_string(header.size() / 1'000'000) + " MB)", many,
                           1000);
  fs::remove_all(dir);
  return 0;
}
