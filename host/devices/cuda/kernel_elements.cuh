#pragma once
// The element types of vramguard's kernels in device code (nvcc only): each read as float32 and a
// float32 result rounded back, to nearest with ties to even, as PyTorch's casts round; and the 16-byte
// packs the element-wise kernels move, the loads that reach the memory's bandwidth.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

namespace vramguard::cuda {

__device__ inline float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ inline float to_float(__half v) { return __half2float(v); }
__device__ inline float to_float(float v) { return v; }

template <class T>
__device__ inline T from_float(float v);
template <>
__device__ inline __nv_bfloat16 from_float<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}
template <>
__device__ inline __half from_float<__half>(float v) {
  return __float2half_rn(v);
}
template <>
__device__ inline float from_float<float>(float v) {
  return v;
}

// Eight elements at a time (16 bytes of bf16/f16, 32 of f32).
template <class T>
struct alignas(16) Pack {
  T values[8];
};

}  // namespace vramguard::cuda
