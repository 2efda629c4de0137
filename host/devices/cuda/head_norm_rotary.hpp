#pragma once
// The queries and keys of a joint attention made ready in one pass over memory (head_norm_rotary.cu,
// nvcc): each head's vector RMS-normalized, then rotated by its token's rotary angles, written
// straight into its place in the joint tensor. Op by op (PyTorch's eager kernels: a cast, a square, a
// mean, a multiply, a cast, a multiply, then a cast, four multiplies, two adds, a stack, a cast and
// the concatenation) the same work crosses memory about fifteen times.
// No libtorch here: cuda_head_norm_rotary.cpp hands it PyTorch's tensors and stream.
#include <cuda_runtime_api.h>

#include <cstdint>

#include "devices/cuda/kernel_dtype.hpp"

namespace vramguard::cuda {

// The largest head this kernel takes (elements): a lane holds four of a head's pairs.
inline constexpr int kMaxRotaryHeadDim = 256;

// For every row r = (b, t, h) of `in` [batch, tokens, heads, head_dim] (contiguous, of `dtype`):
//   n = round(round(x × rsqrt(mean(x²) + eps)) × weight)      (mean in float32; each round to `dtype`)
//   out[b, token_offset + t, h, 2k], [.., 2k+1] = round(n₂ₖ cos − n₂ₖ₊₁ sin), round(n₂ₖ sin + n₂ₖ₊₁ cos)
// with cos, sin [tokens, head_dim / 2] float32 and `weight` [head_dim] of `dtype`; `out` is
// [batch, out_tokens, heads, head_dim], contiguous. The rounding steps are those of the eager ops
// (diffusers' RMSNorm, then the rotation in float32), so both give the same values. head_dim even, at
// most kMaxRotaryHeadDim. Launched on `stream`; returns the launch's status.
cudaError_t head_norm_rotary(const void* in, const void* weight, const float* cos, const float* sin, KernelDType dtype,
                             std::int64_t batch, std::int64_t tokens, std::int64_t heads, std::int64_t head_dim,
                             float eps, void* out, std::int64_t out_tokens, std::int64_t token_offset,
                             cudaStream_t stream);

}  // namespace vramguard::cuda
