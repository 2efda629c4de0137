#pragma once
// The queries and keys of a joint attention (an MMDiT's text and image streams), each stream's per-head
// RMSNorm and rotary embedding applied and the streams joined along the tokens: one kernel per stream on
// a GPU where this build has it (host/devices/cuda/head_norm_rotary.cu), the same steps op by op
// elsewhere. Op by op, these steps took ~15 passes over memory per stream.
#include <ATen/core/Tensor.h>

#include <vector>

#include "vramguard/runtime/export.hpp"
#include "vramguard/runtime/session.hpp"

namespace vramguard::runtime {

// diffusers' RMSNorm over the last dimension: the mean square in float32; with half-precision weights
// the normalized values are rounded to the weight's dtype before the weight scales them.
VRAMGUARD_RUNTIME_API at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);

// x [batch, tokens, heads, head_dim]: each adjacent pair (2k, 2k+1) rotated by angle k, in float32,
// with cos and sin [tokens, head_dim / 2]; the result in x's dtype.
VRAMGUARD_RUNTIME_API at::Tensor rotate_pairs(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);

// One stream's queries or keys: `x` [batch, tokens, heads, head_dim] from its projection, its RMSNorm
// weight [head_dim] and its tokens' rotary angles (cos, sin [tokens, head_dim / 2], float32).
struct HeadsToRotate {
  at::Tensor x, weight, cos, sin;
};

enum class FusedKernels { where_available, never };

// rotate_pairs(rms_norm(part.x, part.weight, eps), part.cos, part.sin) for each part, joined along the
// tokens in the order given ([batch, sum of tokens, heads, head_dim]). `never` runs the eager ops
// everywhere (the tests' reference).
VRAMGUARD_RUNTIME_API at::Tensor norm_rotate_join(const std::vector<HeadsToRotate>& parts, double eps,
                                                  FusedKernels kernels = FusedKernels::where_available);

// Whether norm_rotate_join runs as the fused kernel for heads of `head_dim` where `target` computes. Op
// by op it holds float32 copies of the queries and keys besides, which the activations' prediction
// counts only then.
VRAMGUARD_RUNTIME_API bool norm_rotate_join_fuses(const ComputeTarget& target, std::int64_t head_dim);

}  // namespace vramguard::runtime
