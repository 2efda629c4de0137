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

namespace {

// Every query over every key: the fused kernels on libtorch 2; on 1.13 the plain computation, in chunks
// of queries whose scores stay within kUnfusedScoreBytes (an image's every pixel attending to every
// other would otherwise take the square of the pixels at once). On the CPU, chunks of scores that stay
// in its cache: twice as fast there as the largest chunks (measured: 9,000 tokens).
at::Tensor unmasked_attention(const at::Tensor& query, const at::Tensor& key, const at::Tensor& value, double scale) {
#if VRAMGUARD_TORCH_MAJOR >= 2
  return at::scaled_dot_product_attention(query, key, value, {}, 0.0, /*is_causal=*/false, scale);
#else
  const std::int64_t queries = query.size(-2), keys = key.size(-2);
  constexpr std::int64_t kCpuScoreBytes = 8 << 20;
  const std::int64_t chunk_bytes = query.is_cuda() ? kUnfusedScoreBytes : kCpuScoreBytes;
  const std::int64_t rows =
      std::max<std::int64_t>(1, chunk_bytes / std::max<std::int64_t>(1, query.numel() / queries * keys * 4));
  std::vector<at::Tensor> parts;
  for (std::int64_t begin = 0; begin < queries; begin += rows) {
    const auto length = std::min(rows, queries - begin);
    const auto scores = at::matmul(query.narrow(-2, begin, length), key.transpose(-2, -1)) * scale;
    parts.push_back(at::matmul(at::softmax(scores, -1, at::kFloat).to(query.scalar_type()), value));
  }
  return parts.size() == 1 ? parts.front() : at::cat(parts, -2);
#endif
}

// The attention's answer in batch slices, in order: the whole batch at once where no key is hidden, else
// sample by sample over the keys it keeps. A hidden key's weight is zero, so leaving it out changes
// nothing but the kernel — the unmasked ones (flash attention) rather than a masked one. bench/README.md
// ("What users run today, fp8 and batched CFG") has what was measured before and after.
std::vector<at::Tensor> attention_by_sample(const at::Tensor& query, const at::Tensor& key, const at::Tensor& value,
                                            const KeyMask& key_mask, double scale) {
  if (key_mask.hides_nothing()) return {unmasked_attention(query, key, value, scale)};
  std::vector<at::Tensor> samples;
  for (std::int64_t sample = 0; sample < query.size(0); ++sample) {
    const auto index = static_cast<std::size_t>(sample);
    at::Tensor kept_keys = key.narrow(0, sample, 1), kept_values = value.narrow(0, sample, 1);
    if (const std::int64_t prefix = key_mask.kept_prefix.at(index); prefix >= 0) {
      kept_keys = kept_keys.narrow(-2, 0, prefix);  // views: nothing copied
      kept_values = kept_values.narrow(-2, 0, prefix);
    } else {
      kept_keys = kept_keys.index_select(-2, key_mask.kept_indices.at(index));
      kept_values = kept_values.index_select(-2, key_mask.kept_indices.at(index));
    }
    samples.push_back(unmasked_attention(query.narrow(0, sample, 1), kept_keys, kept_values, scale));
  }
  return samples;
}

}  // namespace

KeyMask KeyMask::of(const at::Tensor& mask) {
  KeyMask out;
  const at::Tensor kept = mask.to(at::kCPU).to(at::kBool);
  if (kept.all().item<bool>()) return out;
  for (std::int64_t sample = 0; sample < kept.size(0); ++sample) {
    const at::Tensor row = kept[sample];
    const auto count = row.sum().item<std::int64_t>();
    const bool prefix = row.narrow(0, 0, count).all().item<bool>();
    out.kept_prefix.push_back(prefix ? count : -1);
    out.kept_indices.push_back(prefix ? at::Tensor() : row.nonzero().flatten());
  }
  return out;
}

KeyMask KeyMask::on(c10::Device device) const {
  KeyMask out;
  out.kept_prefix = kept_prefix;
  for (const auto& indices : kept_indices)
    out.kept_indices.push_back(indices.defined() ? host_to_device(indices, device) : at::Tensor());
  return out;
}

at::Tensor masked_attention(const at::Tensor& query, const at::Tensor& key, const at::Tensor& value,
                            const KeyMask& key_mask, double scale) {
  const auto samples = attention_by_sample(query, key, value, key_mask, scale);
  return samples.size() == 1 ? samples.front() : at::cat(samples, 0);
}

std::vector<at::Tensor> joint_attention(const at::Tensor& query, const at::Tensor& key, const at::Tensor& value,
                                        const KeyMask& key_mask, double scale,
                                        const std::vector<std::int64_t>& part_tokens) {
  const auto samples = attention_by_sample(query, key, value, key_mask, scale);
  std::vector<at::Tensor> parts;
  std::int64_t first = 0;
  for (const std::int64_t tokens : part_tokens) {
    // [batch, heads, tokens, head_dim] read as [batch, tokens, heads, head_dim]: the cat (or the one
    // copy) lays each stream's part out as the Linear after it reads it.
    std::vector<at::Tensor> pieces;
    for (const auto& sample : samples) pieces.push_back(sample.narrow(2, first, tokens).transpose(1, 2));
    const at::Tensor part = pieces.size() == 1 ? pieces.front().contiguous() : at::cat(pieces, 0).contiguous();
    parts.push_back(part.flatten(2));
    first += tokens;
  }
  return parts;
}

}  // namespace vramguard::runtime
