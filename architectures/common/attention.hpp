#pragma once
// Scaled-dot-product attention over [batch, heads, tokens, head_dim]: libtorch 2's fused kernels where
// there are some, the plain computation (softmax in float32, as the libraries' eager paths) on 1.13.
#include <ATen/core/Tensor.h>

#include <c10/core/Device.h>

#include <cstdint>
#include <vector>

#include "vramguard/runtime/export.hpp"

namespace vramguard::runtime {

// Token t sees keys 0..t, less those `key_mask` ([batch, keys], bool, true = attend) hides; an
// undefined mask hides none.
at::Tensor causal_attention(const at::Tensor& query, const at::Tensor& key, const at::Tensor& value, double scale,
                            const at::Tensor& key_mask = {});
// The most the unfused (libtorch 1.13) non-causal attention holds in scores at once.
inline constexpr std::int64_t kUnfusedScoreBytes = std::int64_t{256} << 20;

// The keys each sample of a batch attends to, read once per forward pass and used by every layer.
//
// Why not hand the mask to the fused attention: the fastest kernels (flash attention) take no mask, and
// a padded batch — true CFG's prompt and negative prompt run as one batch — falls back to a masked
// kernel. With the kept keys known, each sample attends over only its own keys, unmasked: a narrowed view
// where they are the first keys (a joint sequence whose padding comes last), else those keys gathered.
struct KeyMask {
  // Per sample, how many keys it keeps where they are the first ones, else -1; empty: every sample keeps
  // every key.
  std::vector<std::int64_t> kept_prefix;
  std::vector<at::Tensor> kept_indices;  // per sample where kept_prefix is -1, the indices (int64) it keeps

  bool hides_nothing() const { return kept_prefix.empty(); }
  // `mask` [batch, keys], nonzero = attend. Reads it on the host once; a mask that hides nothing gives
  // an empty KeyMask (the fused kernels run on the whole batch).
  VRAMGUARD_RUNTIME_API static KeyMask of(const at::Tensor& mask);
  // The same mask on `device` (staged without stalling the step).
  VRAMGUARD_RUNTIME_API KeyMask on(c10::Device device) const;
};

// Every query sees every key that `key_mask` keeps: [batch, heads, tokens, head_dim].
VRAMGUARD_RUNTIME_API at::Tensor masked_attention(const at::Tensor& query, const at::Tensor& key,
                                                  const at::Tensor& value, const KeyMask& key_mask, double scale);

// Attention over a joint sequence whose tokens are `part_tokens` of each stream in turn (an MMDiT's image
// and text), answered split back into the streams: one [batch, tokens, heads × head_dim] tensor each,
// contiguous, every element written once (no joined answer transposed, then cut and copied again).
VRAMGUARD_RUNTIME_API std::vector<at::Tensor> joint_attention(const at::Tensor& query, const at::Tensor& key,
                                                              const at::Tensor& value, const KeyMask& key_mask,
                                                              double scale,
                                                              const std::vector<std::int64_t>& part_tokens);

}  // namespace vramguard::runtime
