// Inspection time of the full-size Qwen-Image-Edit-shaped pipeline (2,856 tensors in 14 files,
// 57.7 GB of bf16, sparse): headers only. Target: under 50 ms.
#include <filesystem>

#include "bench/bench_support.hpp"
#include "model/model_inspector.hpp"
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
  fs::remove_all(dir);
  return 0;
}
