#pragma once
// A Linear's input as UnitScope::linear needs it: activation(x) for the op, made once; and, where the
// Linear runs as an fp8 matmul, x's rows in e4m3, quantized with the activation applied in the same pass
// (host/devices/cuda/fp8_rows.cu): an MLP's GELU then costs no pass of its own over its widest
// activation, nor the memory of its result in the compute dtype. Several fp8 matmuls of one prepared
// input share its quantization.
#include <ATen/core/Tensor.h>

#include <optional>

#include "vramguard/runtime/export.hpp"
#include "vramguard/runtime/session.hpp"

namespace vramguard::runtime {

// Whether this build runs fp8 matmuls on CUDA's `gpu`: built with the kernel (nvcc) and a GPU with fp8
// tensor cores (compute capability 8.9 on).
VRAMGUARD_RUNTIME_API bool runs_fp8_matmuls_on(int gpu);

class VRAMGUARD_RUNTIME_API PreparedLinearInput {
 public:
  PreparedLinearInput(at::Tensor x, LinearInput input);

  const at::Tensor& input() const { return x_; }  // x, before the activation
  // activation(x), as the op makes it: what a Linear computing in x's dtype (and a LoRA) multiplies.
  const at::Tensor& activated();

  // activation(x) · (weight × scale)ᵀ + bias as one fp8 matmul on x's GPU (an e4m3 weight, held as
  // fp8), in x's shape and dtype; nullopt where this build, the device or the shapes do not allow it, or
  // where PyTorch's fp8 matmul refused the shape before (said once per shape in the log): the caller
  // dequantizes instead.
  std::optional<at::Tensor> fp8_linear(const at::Tensor& weight, const at::Tensor& scale, const at::Tensor& bias);

 private:
  at::Tensor x_;
  LinearInput input_;
  at::Tensor activated_;
  at::Tensor fp8_values_, fp8_scales_;  // x's rows in e4m3 and their scales, once quantized
};

}  // namespace vramguard::runtime
