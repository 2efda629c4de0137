#pragma once
// Writes tensors as a safetensors file (the outputs of `vramguard run`).
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "vramguard/dtype.hpp"

namespace vramguard {

struct TensorToWrite {
  std::string name;
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;
  const void* data = nullptr;  // shape × dtype bytes, contiguous
};

// Throws JobError naming the file when it cannot be written whole.
void write_safetensors(const std::filesystem::path& file, const std::vector<TensorToWrite>& tensors);

}  // namespace vramguard
