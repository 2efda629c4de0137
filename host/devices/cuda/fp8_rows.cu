#include "devices/cuda/fp8_rows.hpp"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

namespace vramguard::cuda {
namespace {

constexpr int kThreads = 256;
constexpr float kE4m3Max = 448.0f;

__device__ inline float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ inline float to_float(__half v) { return __half2float(v); }
__device__ inline float to_float(float v) { return v; }

// Eight elements at a time (16 bytes of bf16/f16, 32 of f32): the loads that reach the memory's bandwidth.
template <class T>
struct alignas(16) Pack {
  T values[8];
};

// The block's largest magnitude: each warp's by shuffles, then the warps' through shared memory.
__device__ float block_max(float value) {
  __shared__ float warp_max[kThreads / 32];
  for (int offset = 16; offset > 0; offset /= 2) value = fmaxf(value, __shfl_xor_sync(0xffffffffu, value, offset));
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane == 0) warp_max[warp] = value;
  __syncthreads();
  if (warp == 0) {
    value = lane < kThreads / 32 ? warp_max[lane] : 0.0f;
    for (int offset = 16; offset > 0; offset /= 2) value = fmaxf(value, __shfl_xor_sync(0xffffffffu, value, offset));
    if (lane == 0) warp_max[0] = value;
  }
  __syncthreads();
  return warp_max[0];
}

// One block a row. The row is read twice, the second time from the cache: a row of activations is at
// most a few tens of kilobytes.
template <class T>
__global__ void __launch_bounds__(kThreads)
    quantize_rows_kernel(const T* __restrict__ in, std::int64_t cols, std::uint8_t* __restrict__ out,
                         float* __restrict__ scales) {
  const std::int64_t row = blockIdx.x;
  const auto* packs = reinterpret_cast<const Pack<T>*>(in + row * cols);
  auto* out_packs = reinterpret_cast<uint2*>(out + row * cols);
  const std::int64_t count = cols / 8;
  float largest = 0.0f;
  for (std::int64_t i = threadIdx.x; i < count; i += kThreads) {
    const Pack<T> pack = packs[i];
#pragma unroll
    for (int k = 0; k < 8; ++k) largest = fmaxf(largest, fabsf(to_float(pack.values[k])));
  }
  largest = block_max(largest);
  const float scale = largest > 0.0f ? largest / kE4m3Max : 1.0f;
  const float inverse = 1.0f / scale;
  if (threadIdx.x == 0) scales[row] = scale;
  for (std::int64_t i = threadIdx.x; i < count; i += kThreads) {
    const Pack<T> pack = packs[i];
    union {
      std::uint8_t bytes[8];
      uint2 word;
    } quantized;
#pragma unroll
    for (int k = 0; k < 8; ++k)
      quantized.bytes[k] = __nv_cvt_float_to_fp8(to_float(pack.values[k]) * inverse, __NV_SATFINITE, __NV_E4M3);
    out_packs[i] = quantized.word;
  }
}

}  // namespace

cudaError_t quantize_rows_e4m3(const void* in, KernelDType dtype, std::int64_t rows, std::int64_t cols,
                               std::uint8_t* out, float* scales, cudaStream_t stream) {
  if (rows == 0) return cudaSuccess;
  const dim3 grid(static_cast<unsigned>(rows)), block(kThreads);
  switch (dtype) {
    case KernelDType::bf16:
      quantize_rows_kernel<<<grid, block, 0, stream>>>(static_cast<const __nv_bfloat16*>(in), cols, out, scales);
      break;
    case KernelDType::f16:
      quantize_rows_kernel<<<grid, block, 0, stream>>>(static_cast<const __half*>(in), cols, out, scales);
      break;
    case KernelDType::f32:
      quantize_rows_kernel<<<grid, block, 0, stream>>>(static_cast<const float*>(in), cols, out, scales);
      break;
  }
  return cudaGetLastError();
}

}  // namespace vramguard::cuda
