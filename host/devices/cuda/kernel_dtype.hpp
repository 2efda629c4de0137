#pragma once
// The element types vramguard's own CUDA kernels read: the compute dtypes a model runs in.
#include <cstdint>

namespace vramguard::cuda {

enum class KernelDType : std::uint8_t { bf16, f16, f32 };

}  // namespace vramguard::cuda
