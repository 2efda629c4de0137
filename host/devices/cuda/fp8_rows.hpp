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

}  // namespace vramguard::cuda
