#pragma once
// A Linear's input made once for the Linears that read it (UnitScope::linear): what it passes through
// first — an MLP's GELU, or AdaLN's modulated norm of a stream — applied by the ops where a Linear
// computes in the compute dtype; and, where a Linear runs as an fp8 matmul, the input's rows quantized
// to e4m3 with that step in the same pass (host/devices/cuda/fp8_rows.cu). The GELU then costs no pass of
// its own over an MLP's widest activation; the modulated norm read once, not through a norm, a
// modulation and a quantization for each of q, k and v. Several fp8 matmuls of one prepared input share
// its quantization.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>

#include "vramguard/runtime/export.hpp"
#include "vramguard/runtime/session.hpp"

namespace vramguard::runtime {

// Whether this build runs fp8 matmuls on CUDA's `gpu`: built with the kernel (nvcc) and a GPU with fp8
// tensor cores (compute capability 8.9 on).
VRAMGUARD_RUNTIME_API bool runs_fp8_matmuls_on(int gpu);

// The most rows of an input whose fp8 Linears multiply the weight as stored, the input unquantized
// (host/devices/cuda/fp8_few_rows.cu): a modulation's one row a sample; 0 in a build without the kernels.
VRAMGUARD_RUNTIME_API std::int64_t fp8_few_rows_max();

// AdaLN's modulation of a stream before its attention or its MLP: shift + LayerNorm(x) × (1 + scale),
// the norm over x's last dimension without weights. x [batch, tokens, inner]; shift and scale
// [batch, 1, inner]. With 0 ≤ split < tokens, the tokens from `split` on take shift_after and
// scale_after instead (Edit-2511's zero_cond_t: the input pictures modulated apart from the target).
struct ModulatedNorm {
  at::Tensor x, shift, scale;
  double eps = 1e-6;
  std::int64_t split = -1;
  at::Tensor shift_after, scale_after;

  // The first token modulated by shift_after and scale_after: `split`, or x's token count where none is.
  std::int64_t later_from() const { return split >= 0 && split < x.size(1) ? split : x.size(1); }
};

class VRAMGUARD_RUNTIME_API PreparedLinearInput {
 public:
  PreparedLinearInput(at::Tensor x, LinearInput input);
  explicit PreparedLinearInput(ModulatedNorm modulated);

  const at::Tensor& input() const { return x_; }  // x, before what it passes through
  // What the Linears multiply, made by the ops once: what a Linear computing in x's dtype (and a LoRA)
  // reads. Under fp8 matmuls with the fused kernels it is never made.
  const at::Tensor& activated();

  // activated() · (weight × scale)ᵀ + bias as one fp8 matmul on x's GPU (an e4m3 weight, held as
  // fp8), in x's shape and dtype; an input of at most fp8_few_rows_max() rows by the kernel that reads
  // the weight as stored and the input unquantized. nullopt where this build, the device or the shapes
  // do not allow it, or where PyTorch's fp8 matmul refused the shape before (said once per shape in the
  // log): the caller dequantizes instead.
  std::optional<at::Tensor> fp8_linear(const at::Tensor& weight, const at::Tensor& scale, const at::Tensor& bias);

 private:
  void quantize();  // fp8_values_ and fp8_scales_, in one kernel where one takes the input

  at::Tensor x_;
  LinearInput input_ = LinearInput::as_is;
  std::optional<ModulatedNorm> modulated_;
  at::Tensor activated_;
  at::Tensor fp8_values_, fp8_scales_;  // the rows in e4m3 and their scales, once quantized
};

}  // namespace vramguard::runtime
