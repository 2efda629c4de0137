#include "devices/cuda/cuda_head_norm_rotary.hpp"

#include <c10/cuda/CUDAGuard.h>

#include <cstdint>

#include "devices/cuda/cuda_kernel_dtype.hpp"
#include "devices/cuda/cuda_support.hpp"
#include "devices/cuda/head_norm_rotary.hpp"

namespace vramguard::cuda {
namespace {

bool on_device_as(const at::Tensor& t, const at::Tensor& x) { return t.device() == x.device(); }

// Contiguous, and aligned for the kernel's loads of a pair of elements (a view may start mid-pair).
at::Tensor pair_aligned(const at::Tensor& t) {
  at::Tensor out = t.contiguous();
  if (reinterpret_cast<std::uintptr_t>(out.data_ptr()) % (2 * out.element_size()) != 0) out = out.clone();
  return out;
}

}  // namespace

bool head_norm_rotary_takes_heads_of(std::int64_t head_dim) {
  return head_dim > 0 && head_dim % 2 == 0 && head_dim <= kMaxRotaryHeadDim;
}

bool head_norm_rotary_takes(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& cos,
                            const at::Tensor& sin) {
  if (!x.is_cuda() || x.dim() != 4 || !kernel_dtype_of(x.scalar_type())) return false;
  const std::int64_t tokens = x.size(1), head_dim = x.size(3);
  if (!head_norm_rotary_takes_heads_of(head_dim)) return false;
  if (weight.scalar_type() != x.scalar_type() || weight.dim() != 1 || weight.size(0) != head_dim ||
      !on_device_as(weight, x))
    return false;
  for (const at::Tensor* angles : {&cos, &sin})
    if (angles->scalar_type() != at::kFloat || angles->dim() != 2 || angles->size(0) != tokens ||
        angles->size(1) != head_dim / 2 || !on_device_as(*angles, x))
      return false;
  return true;
}

void head_norm_rotary_into(const at::Tensor& x, const at::Tensor& weight, double eps, const at::Tensor& cos,
                           const at::Tensor& sin, at::Tensor& joint, std::int64_t token_offset) {
  const c10::cuda::CUDAGuard on_its_gpu(x.device());
  const at::Tensor in = pair_aligned(x), w = pair_aligned(weight), c = cos.contiguous(), s = sin.contiguous();
  check(head_norm_rotary(in.data_ptr(), w.data_ptr(), c.data_ptr<float>(), s.data_ptr<float>(),
                         *kernel_dtype_of(x.scalar_type()), x.size(0), x.size(1), x.size(2), x.size(3),
                         static_cast<float>(eps), joint.data_ptr(), joint.size(1), token_offset,
                         compute_stream(static_cast<int>(x.get_device()))),
        "normalizing and rotating the attention's queries and keys");
}

}  // namespace vramguard::cuda
