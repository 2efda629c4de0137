#pragma once
// Causal scaled-dot-product attention over [batch, heads, tokens, head_dim]: libtorch 2's fused kernel
// where there is one, the plain computation (softmax in float32, as transformers' eager path) on 1.13.
#include <ATen/core/Tensor.h>

namespace vramguard::runtime {

at::Tensor causal_attention(const at::Tensor& query, const at::Tensor& key, const at::Tensor& value, double scale);

}  // namespace vramguard::runtime
