#pragma once
// A CUDA kernel of vramguard's own (fp8_rows.cu, nvcc): a matrix's rows quantized to fp8
// e4m3, each with its own scale, in one pass over memory. fp8 matmuls need their activations in fp8;
// done with PyTorch's separate kernels (largest magnitude, divide, cast) the activations cross memory
// five times and the matmul it feeds is no faster than bf16's (0.63x on the MLP's down-projection, H100).
// No libtorch here: cuda_fp8.cpp hands it PyTorch's tensors and stream.
#include <cuda_runtime_api.h>

#include <cstdint>

#include "devices/cuda/kernel_dtype.hpp"

namespace vramguard::cuda {

// What the input passes through before it is quantized, in the same pass: `gelu_tanh` is the GELU's tanh
// approximation as PyTorch computes it (in float32, rounded to the input's dtype as at::gelu(x, "tanh")
// writes it), so that an MLP's widest activation is read once instead of written, read and read again.
enum class RowActivation : std::uint8_t { none, gelu_tanh };

// With a = activation(in): out[r][c] = e4m3(a[r][c] / scales[r]), saturating at ±448, with
// scales[r] = max_c |a[r][c]| / 448 (1 for a row of zeros). `in` is rows × cols, row-major, of `dtype`;
// cols a multiple of 8 and `in` 16-byte aligned. Launched on `stream`; returns the launch's status.
cudaError_t quantize_rows_e4m3(const void* in, KernelDType dtype, RowActivation activation, std::int64_t rows,
                               std::int64_t cols, std::uint8_t* out, float* scales, cudaStream_t stream);

// AdaLN's modulated norm (an MMDiT's stream before its attention and its MLP) quantized in the same pass:
// with a = shift + LayerNorm(x) × (1 + scale), each row of x read once instead of passing through
// the norm's op, the modulation's and the quantization's. x is [batch, tokens, cols]; `shift` and
// `one_plus_scale` hold [modulations, cols] rows: token t of sample b takes row b for t < split and row
// batch + b from split on (Edit-2511's zero_cond_t: the input pictures modulated apart), so split = tokens
// needs only the first batch rows.
inline constexpr std::int64_t kModulatedNormMaxColumns = 12288;  // a row is held in registers whole

struct ModulatedNormShape {
  std::int64_t batch = 0, tokens = 0, cols = 0, split = 0;
};

// The norm without affine weights: (x - mean) · rsqrt(variance + eps), rounded to `dtype` as
// at::layer_norm stores it; then shift + that × (1 + scale), rounded as at::addcmul stores it; then
// e4m3 rows as quantize_rows_e4m3 writes them. cols a multiple of 8 up to kModulatedNormMaxColumns;
// every pointer 16-byte aligned, of `dtype` (but out and scales).
cudaError_t quantize_modulated_norm_rows_e4m3(const void* in, KernelDType dtype, const ModulatedNormShape& shape,
                                              const void* shift, const void* one_plus_scale, float eps,
                                              std::uint8_t* out, float* scales, cudaStream_t stream);

}  // namespace vramguard::cuda
