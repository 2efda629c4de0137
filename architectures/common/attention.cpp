#include "common/attention.hpp"

#include "common/host_to_device.hpp"

#include <ATen/Functions.h>
#include <ATen/TensorOperators.h>

#include <algorithm>
#include <limits>
#include <vector>

namespace vramguard::runtime {

at::Tensor causal_attention(const at::Tensor& query, const at::Tensor& key, const at::Tensor& value, double scale,
                            const at::Tensor& key_mask) {
  const auto tokens = query.size(-2);
  const auto keys = key.size(-2);
#if VRAMGUARD_TORCH_MAJOR >= 2
  if (!key_mask.defined())
    return at::scaled_dot_product_attention(query, key, value, {}, 0.0, /*is_causal=*/true, scale);
#endif
  // Token t sees keys 0..t (the keys end where the queries do).
  auto visible = at::ones({tokens, keys}, query.options().dtype(at::kBool)).tril(keys - tokens);
  if (key_mask.defined())
    visible =
        visible.unsqueeze(0).unsqueeze(0).logical_and(key_mask.to(query.device(), at::kBool).unsqueeze(1).unsqueeze(1));
#if VRAMGUARD_TORCH_MAJOR >= 2
  return at::scaled_dot_product_attention(query, key, value, visible, 0.0, /*is_causal=*/false, scale);
#else
  auto scores = at::matmul(query, key.transpose(-2, -1)) * scale;
  scores = scores.masked_fill(visible.logical_not(), -std::numeric_limits<float>::infinity());
  const auto weights = at::softmax(scores, -1, at::kFloat).to(query.scalar_type());
  return at::matmul(weights, value);
#endif
}

KeyMask KeyMask::of(const at::Tensor& mask) {
  KeyMask out;
  const at::Tensor kept = mask.to(at::kCPU).to(at::kBool);
  if (kept.all().item<bool>()) return out;
  out.mask = kept;
  for (std::int64_t sample = 0; sample < kept.size(0); ++sample)
    out.kept_indices.push_back(kept[sample].nonzero().flatten());
  return out;
}

KeyMask KeyMask::on(c10::Device device) const {
  if (hides_nothing()) return {};
  KeyMask out;
  out.mask = host_to_device(mask, device);
  for (const auto& indices : kept_indices) out.kept_indices.push_back(host_to_device(indices, device));
  return out;
}

at::Tensor masked_attention(const at::Tensor& query, const at::Tensor& key, const at::Tensor& value,
                            const KeyMask& key_mask, double scale) {
#if VRAMGUARD_TORCH_MAJOR >= 2
  if (key_mask.hides_nothing())
    return at::scaled_dot_product_attention(query, key, value, {}, 0.0, /*is_causal=*/false, scale);
  // Sample by sample over the keys it keeps: a hidden key's weight is zero, so leaving it out changes
  // nothing but the kernel — the unmasked ones (flash attention) rather than a masked one. bench/README.md
  // ("What users run today, fp8 and batched CFG") has what was measured before and after.
  std::vector<at::Tensor> samples;
  for (std::int64_t sample = 0; sample < query.size(0); ++sample) {
    const auto& kept = key_mask.kept_indices.at(static_cast<std::size_t>(sample));
    samples.push_back(at::scaled_dot_product_attention(
        query.narrow(0, sample, 1), key.narrow(0, sample, 1).index_select(-2, kept),
        value.narrow(0, sample, 1).index_select(-2, kept), {}, 0.0, /*is_causal=*/false, scale));
  }
  return samples.size() == 1 ? samples.front() : at::cat(samples, 0);
#else
  // [batch, 1, 1, keys]: the same keys hidden from every head and every query.
  const at::Tensor mask =
      key_mask.hides_nothing() ? at::Tensor() : key_mask.mask.to(query.device()).unsqueeze(1).unsqueeze(1);
  // Queries in chunks whose scores stay within kUnfusedScoreBytes: an image's every pixel attending to
  // every other would otherwise take the square of the pixels at once. On the CPU, chunks of scores
  // that stay in its cache: twice as fast there as the largest chunks (measured: 9,000 tokens).
  const std::int64_t queries = query.size(-2), keys = key.size(-2);
  constexpr std::int64_t kCpuScoreBytes = 8 << 20;
  const std::int64_t chunk_bytes = query.is_cuda() ? kUnfusedScoreBytes : kCpuScoreBytes;
  const std::int64_t rows =
      std::max<std::int64_t>(1, chunk_bytes / std::max<std::int64_t>(1, query.numel() / queries * keys * 4));
  std::vector<at::Tensor> parts;
  for (std::int64_t begin = 0; begin < queries; begin += rows) {
    const auto length = std::min(rows, queries - begin);
    auto scores = at::matmul(query.narrow(-2, begin, length), key.transpose(-2, -1)) * scale;
    if (mask.defined()) scores = scores.masked_fill(mask.logical_not(), -std::numeric_limits<float>::infinity());
    parts.push_back(at::matmul(at::softmax(scores, -1, at::kFloat).to(query.scalar_type()), value));
  }
  return parts.size() == 1 ? parts.front() : at::cat(parts, -2);
#endif
}

}  // namespace vramguard::runtime
