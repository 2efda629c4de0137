#pragma once
// The element type vramguard's kernels read (kernel_dtype.hpp) for a PyTorch dtype: written once for
// every kernel's wrapper, which hand the kernels PyTorch's tensors.
#include <c10/core/ScalarType.h>

#include <optional>

#include "devices/cuda/kernel_dtype.hpp"

namespace vramguard::cuda {

// bf16, fp16 and fp32, the compute dtypes; nullopt for any other (the kernels do not take it).
inline std::optional<KernelDType> kernel_dtype_of(c10::ScalarType type) {
  switch (type) {
    case c10::ScalarType::BFloat16: return KernelDType::bf16;
    case c10::ScalarType::Half: return KernelDType::f16;
    case c10::ScalarType::Float: return KernelDType::f32;
    default: return std::nullopt;
  }
}

}  // namespace vramguard::cuda
