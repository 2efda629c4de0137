#pragma once
// The element types vramguard's own CUDA kernels read: the compute dtypes a model runs in, and the fp8
// they write.
#include <cstdint>

namespace vramguard::cuda {

enum class KernelDType : std::uint8_t { bf16, f16, f32 };

// The largest finite fp8 e4m3 value: the kernels' quantizing scales map a row's or a tensor's largest
// magnitude to it.
inline constexpr float kE4m3Max = 448.0f;

}  // namespace vramguard::cuda
