#include "devices/cuda/head_norm_rotary.hpp"

#include "devices/cuda/kernel_elements.cuh"

namespace vramguard::cuda {
namespace {

constexpr int kWarpsPerBlock = 8;
constexpr int kPairsPerLane = kMaxRotaryHeadDim / 2 / 32;

// A value as the eager op's result holds it: rounded to T.
template <class T>
__device__ inline float rounded(float v) {
  return to_float(from_float<T>(v));
}

// One pair of adjacent elements: one load and one store per pair.
template <class T>
struct alignas(2 * sizeof(T)) Pair {
  T first, second;
};

// One warp a row (one head of one token): each lane holds up to kPairsPerLane pairs in registers, the
// mean square is summed across the warp by shuffles, and the row is written once.
//
// The products and sums are rounded as separate operations (__fmul_rn, __fadd_rn: no fused
// multiply-add), as the eager ops compute them kernel by kernel.
template <class T>
__global__ void __launch_bounds__(kWarpsPerBlock * 32)
    head_norm_rotary_kernel(const T* __restrict__ in, const T* __restrict__ weight, const float* __restrict__ cos,
                            const float* __restrict__ sin, std::int64_t rows, std::int64_t tokens, std::int64_t heads,
                            std::int64_t head_dim, float eps, T* __restrict__ out, std::int64_t out_tokens,
                            std::int64_t token_offset) {
  const std::int64_t row = static_cast<std::int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
  if (row >= rows) return;
  const int lane = static_cast<int>(threadIdx.x % 32);
  const std::int64_t pairs = head_dim / 2;
  const std::int64_t head = row % heads, token = (row / heads) % tokens, sample = row / (heads * tokens);
  const auto* x = reinterpret_cast<const Pair<T>*>(in + row * head_dim);
  const auto* w = reinterpret_cast<const Pair<T>*>(weight);

  float a[kPairsPerLane], b[kPairsPerLane];
  float square_sum = 0.0f;
#pragma unroll
  for (int i = 0; i < kPairsPerLane; ++i) {
    const std::int64_t p = lane + 32 * i;
    a[i] = b[i] = 0.0f;
    if (p < pairs) {
      const Pair<T> v = x[p];
      a[i] = to_float(v.first);
      b[i] = to_float(v.second);
      square_sum = __fadd_rn(square_sum, __fadd_rn(__fmul_rn(a[i], a[i]), __fmul_rn(b[i], b[i])));
    }
  }
  for (int offset = 16; offset > 0; offset /= 2) square_sum += __shfl_xor_sync(0xffffffffu, square_sum, offset);
  const float inverse_rms = rsqrtf(__fadd_rn(__fdiv_rn(square_sum, static_cast<float>(head_dim)), eps));

  auto* o = reinterpret_cast<Pair<T>*>(out + ((sample * out_tokens + token_offset + token) * heads + head) * head_dim);
  const float* c = cos + token * pairs;
  const float* s = sin + token * pairs;
#pragma unroll
  for (int i = 0; i < kPairsPerLane; ++i) {
    const std::int64_t p = lane + 32 * i;
    if (p >= pairs) continue;
    const Pair<T> scale = w[p];
    const float n0 = rounded<T>(__fmul_rn(rounded<T>(__fmul_rn(a[i], inverse_rms)), to_float(scale.first)));
    const float n1 = rounded<T>(__fmul_rn(rounded<T>(__fmul_rn(b[i], inverse_rms)), to_float(scale.second)));
    const float cp = c[p], sp = s[p];
    o[p] = Pair<T>{from_float<T>(__fsub_rn(__fmul_rn(n0, cp), __fmul_rn(n1, sp))),
                   from_float<T>(__fadd_rn(__fmul_rn(n0, sp), __fmul_rn(n1, cp)))};
  }
}

template <class T>
cudaError_t launch(const void* in, const void* weight, const float* cos, const float* sin, std::int64_t rows,
                   std::int64_t tokens, std::int64_t heads, std::int64_t head_dim, float eps, void* out,
                   std::int64_t out_tokens, std::int64_t token_offset, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>((rows + kWarpsPerBlock - 1) / kWarpsPerBlock)), block(kWarpsPerBlock * 32);
  head_norm_rotary_kernel<T><<<grid, block, 0, stream>>>(static_cast<const T*>(in), static_cast<const T*>(weight), cos,
                                                         sin, rows, tokens, heads, head_dim, eps, static_cast<T*>(out),
                                                         out_tokens, token_offset);
  return cudaGetLastError();
}

}  // namespace

cudaError_t head_norm_rotary(const void* in, const void* weight, const float* cos, const float* sin, KernelDType dtype,
                             std::int64_t batch, std::int64_t tokens, std::int64_t heads, std::int64_t head_dim,
                             float eps, void* out, std::int64_t out_tokens, std::int64_t token_offset,
                             cudaStream_t stream) {
  const std::int64_t rows = batch * tokens * heads;
  if (rows == 0) return cudaSuccess;
  if (head_dim % 2 != 0 || head_dim > kMaxRotaryHeadDim) return cudaErrorInvalidValue;
  switch (dtype) {
    case KernelDType::bf16:
      return launch<__nv_bfloat16>(in, weight, cos, sin, rows, tokens, heads, head_dim, eps, out, out_tokens,
                                   token_offset, stream);
    case KernelDType::f16:
      return launch<__half>(in, weight, cos, sin, rows, tokens, heads, head_dim, eps, out, out_tokens, token_offset,
                            stream);
    case KernelDType::f32:
      return launch<float>(in, weight, cos, sin, rows, tokens, heads, head_dim, eps, out, out_tokens, token_offset,
                           stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace vramguard::cuda
