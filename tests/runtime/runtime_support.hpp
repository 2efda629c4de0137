#pragma once
// What the runtime tests share: the fixtures' tensors as at::Tensors, and a simulated session.
#include <ATen/Functions.h>
#include <ATen/TensorOperators.h>

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "core/tensor_read.hpp"
#include "model/safetensors_header.hpp"
#include "vramguard/runtime.hpp"

namespace vramguard::testing {

inline std::filesystem::path fixture(const std::string& name) {
  return std::filesystem::path(TEST_DATA_DIR) / "fixtures" / name;
}

// One tensor of a safetensors file (F32 or I64), on the CPU.
inline at::Tensor load_tensor(const std::filesystem::path& file, const std::string& name) {
  const SafetensorsHeader header = read_safetensors_header(file.string());
  for (const auto& entry : header.tensors) {
    if (entry.name != name) continue;
    const auto type = entry.dtype == DType::I64 ? at::kLong : entry.dtype == DType::I32 ? at::kInt : at::kFloat;
    at::Tensor out = at::empty(entry.shape, at::TensorOptions().dtype(type));
    const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    read_exact(fd, header.data_offset + entry.begin, entry.bytes(), static_cast<unsigned char*>(out.data_ptr()),
               file.string());
    ::close(fd);
    return out;
  }
  throw std::runtime_error(file.string() + " has no tensor " + name);
}

// The largest difference, relative to the reference's largest magnitude.
inline double relative_difference(const at::Tensor& got, const at::Tensor& expected) {
  const auto g = got.to(at::kCPU).to(at::kDouble), e = expected.to(at::kDouble);
  return (g - e).abs().max().item<double>() / std::max(1e-30, e.abs().max().item<double>());
}

inline runtime::Options simulated(const std::string& strategy, const std::string& gpus = "cuda:1GB") {
  runtime::Options options;
  options.strategy = strategy;
  options.simulate = gpus;
  options.cpu_memory = "4GiB";
  options.reserve = "0";
  // The fixtures' workload (2 sequences of 19 tokens): the headroom the plan keeps is what a step takes.
  options.tokens = 19;
  options.batch = 2;
  return options;
}

}  // namespace vramguard::testing
