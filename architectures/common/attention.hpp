#pragma once
// Scaled-dot-product attention over [batch, heads, tokens, head_dim]: libtorch 2's fused kernels where
// there are some, the plain computation (softmax in float32, as the libraries' eager paths) on 1.13.
#include <ATen/core/Tensor.h>

#include <cstdint>

namespace vramguard::runtime {

// Token t sees keys 0..t, less those `key_mask` ([batch, keys], bool, true = attend) hides; an
// undefined mask hides none.
at::Tensor causal_attention(const at::Tensor& query, const at::Tensor& key, const at::Tensor& value, double scale,
                            const at::Tensor& key_mask = {});
// The most the unfused (libtorch 1.13) non-causal attention holds in scores at once.
inline constexpr std::int64_t kUnfusedScoreBytes = std::int64_t{256} << 20;

// Every query sees every key that `key_mask` ([batch, keys], bool, true = attend) keeps; an undefined
// mask keeps them all.
at::Tensor masked_attention(const at::Tensor& query, const at::Tensor& key, const at::Tensor& value,
                            const at::Tensor& key_mask, double scale);

}  // namespace vramguard::runtime
