#include "common/head_norm_rotary.hpp"

#include <ATen/Functions.h>
#include <ATen/TensorOperators.h>

#if VRAMGUARD_CUDA_KERNELS
#include "devices/cuda/cuda_head_norm_rotary.hpp"
#endif

namespace vramguard::runtime {

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  auto h = x * at::rsqrt(x.to(at::kFloat).pow(2).mean(-1, true) + eps);
  if (weight.scalar_type() == at::kHalf || weight.scalar_type() == at::kBFloat16) h = h.to(weight.scalar_type());
  return h * weight;
}

at::Tensor rotate_pairs(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  auto pair_shape = x.sizes().vec();
  pair_shape.back() /= 2;
  pair_shape.push_back(2);
  const auto pairs = x.to(at::kFloat).reshape(pair_shape);
  const auto real = pairs.select(-1, 0), imaginary = pairs.select(-1, 1);
  const auto c = cos.unsqueeze(1), s = sin.unsqueeze(1);  // over heads
  return at::stack({real * c - imaginary * s, real * s + imaginary * c}, -1).flatten(-2).to(x.scalar_type());
}

namespace {

#if VRAMGUARD_CUDA_KERNELS
// Every part on one GPU, of one dtype and batch, with the same heads, in shapes the kernel takes.
bool fused_takes(const std::vector<HeadsToRotate>& parts) {
  const at::Tensor& first = parts.front().x;
  for (const auto& part : parts)
    if (part.x.device() != first.device() || part.x.scalar_type() != first.scalar_type() ||
        part.x.size(0) != first.size(0) || part.x.size(2) != first.size(2) || part.x.size(3) != first.size(3) ||
        !cuda::head_norm_rotary_takes(part.x, part.weight, part.cos, part.sin))
      return false;
  return true;
}
#endif

}  // namespace

at::Tensor norm_rotate_join(const std::vector<HeadsToRotate>& parts, double eps, FusedKernels kernels) {
#if VRAMGUARD_CUDA_KERNELS
  if (kernels == FusedKernels::where_available && !parts.empty() && fused_takes(parts)) {
    const at::Tensor& first = parts.front().x;
    std::int64_t tokens = 0;
    for (const auto& part : parts) tokens += part.x.size(1);
    at::Tensor joint = at::empty({first.size(0), tokens, first.size(2), first.size(3)}, first.options());
    std::int64_t offset = 0;
    for (const auto& part : parts) {
      cuda::head_norm_rotary_into(part.x, part.weight, eps, part.cos, part.sin, joint, offset);
      offset += part.x.size(1);
    }
    return joint;
  }
#else
  (void)kernels;
#endif
  std::vector<at::Tensor> rotated;
  rotated.reserve(parts.size());
  for (const auto& part : parts)
    rotated.push_back(rotate_pairs(rms_norm(part.x, part.weight, eps), part.cos, part.sin));
  return rotated.size() == 1 ? rotated.front() : at::cat(rotated, 1);
}

bool norm_rotate_join_fuses(const ComputeTarget& target, std::int64_t head_dim) {
#if VRAMGUARD_CUDA_KERNELS
  return target.fused_kernels && cuda::head_norm_rotary_takes_heads_of(head_dim);
#else
  (void)target, (void)head_dim;
  return false;
#endif
}

}  // namespace vramguard::runtime
