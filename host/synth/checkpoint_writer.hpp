#pragma once
// Writes a SynthModel as a real checkpoint folder: config.json, safetensors shards of at most
// `max_shard_bytes` and their index (and model_index.json for a pipeline). With zeros the files are
// sparse: a 41 GB checkpoint takes no disk space; only its 1-D tensors (norms, biases) hold seeded
// values, so that what runs on it computes finite numbers. Random data is seeded and reproducible.
#include <cstdint>
#include <filesystem>

#include "synth/synthetic_architecture.hpp"

namespace vramguard {

enum class SynthData { zeros, random };

struct SynthWriteOptions {
  DType dtype = DType::BF16;
  SynthData data = SynthData::zeros;
  std::uint64_t seed = 0;
  std::uint64_t max_shard_bytes = 5'000'000'000;  // transformers' default max_shard_size
};

struct SynthWriteResult {
  std::uint64_t files = 0;
  std::uint64_t tensors = 0;
  std::uint64_t bytes = 0;  // of tensor data
};

SynthWriteResult write_checkpoint(const SynthModel& model, const std::filesystem::path& out,
                                  const SynthWriteOptions& options);

}  // namespace vramguard
