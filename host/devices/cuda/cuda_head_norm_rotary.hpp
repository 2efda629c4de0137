#pragma once
// head_norm_rotary.cu on PyTorch's tensors (architectures/common/head_norm_rotary.cpp calls it): only
// in builds against a CUDA libtorch with nvcc.
#include <ATen/core/Tensor.h>

#include <cstdint>

namespace vramguard::cuda {

// Whether the kernel takes heads of `head_dim` elements: even, at most kMaxRotaryHeadDim (what the
// activations' prediction asks before there are tensors).
bool head_norm_rotary_takes_heads_of(std::int64_t head_dim);

// Whether the kernel takes these: `x` [batch, tokens, heads, head_dim] on a GPU in bf16, fp16 or fp32,
// `weight` [head_dim] of x's dtype, `cos` and `sin` [tokens, head_dim / 2] float32, all on x's GPU,
// heads it takes (head_norm_rotary_takes_heads_of).
bool head_norm_rotary_takes(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& cos,
                            const at::Tensor& sin);

// x normalized and rotated (head_norm_rotary.hpp says exactly how) into `joint` [batch, joint tokens,
// heads, head_dim] (contiguous, x's dtype) from token `token_offset` on, on x's GPU's compute stream.
void head_norm_rotary_into(const at::Tensor& x, const at::Tensor& weight, double eps, const at::Tensor& cos,
                           const at::Tensor& sin, at::Tensor& joint, std::int64_t token_offset);

}  // namespace vramguard::cuda
