#include "adapters/attention.hpp"

#include <ATen/Functions.h>
#include <ATen/TensorOperators.h>

namespace vramguard::runtime {

at::Tensor causal_attention(const at::Tensor& query, const at::Tensor& key, const at::Tensor& value, double scale) {
#if VRAMGUARD_TORCH_MAJOR >= 2
  return at::scaled_dot_product_attention(query, key, value, {}, 0.0, /*is_causal=*/true, scale);
#else
  const auto tokens = query.size(-2);
  const auto keys = key.size(-2);
  auto scores = at::matmul(query, key.transpose(-2, -1)) * scale;
  // Token t sees keys 0..t (the keys end where the queries do).
  const auto mask = at::ones({tokens, keys}, query.options().dtype(at::kBool)).triu(keys - tokens + 1);
  scores = scores.masked_fill(mask, -std::numeric_limits<float>::infinity());
  const auto weights = at::softmax(scores, -1, at::kFloat).to(query.scalar_type());
  return at::matmul(weights, value);
#endif
}

}  // namespace vramguard::runtime
