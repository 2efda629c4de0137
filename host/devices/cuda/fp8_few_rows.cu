#include "devices/cuda/fp8_few_rows.hpp"

#include <cuda_fp8.h>

#include "devices/cuda/kernel_elements.cuh"

namespace vramguard::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
// Each warp makes this many outputs (weight rows) for every input row: the input's values, read once
// from the cache and turned into float32, serve all of them.
constexpr int kOutsPerWarp = 4;
// A lane reads 16 weight bytes at a time: 16 e4m3 values, a warp 512 of a weight row.
constexpr int kValuesPerLoad = 16;

// Eight e4m3 values (the two halves of a 16-byte load are two of these) as float32.
__device__ inline void e4m3_to_float(unsigned int low, unsigned int high, float (&out)[8]) {
  const unsigned int words[2] = {low, high};
#pragma unroll
  for (int w = 0; w < 2; ++w) {
#pragma unroll
    for (int pair = 0; pair < 2; ++pair) {
      const auto two = static_cast<__nv_fp8x2_storage_t>(words[w] >> (16 * pair));
      const float2 values = __half22float2(__half2(__nv_cvt_fp8x2_to_halfraw2(two, __NV_E4M3)));
      out[w * 4 + pair * 2] = values.x;
      out[w * 4 + pair * 2 + 1] = values.y;
    }
  }
}

// One warp a group of kOutsPerWarp weight rows: each lane multiplies 16 of a row's values at a time with
// every input row's, the sums gathered across the warp at the end. The weight is read once, streamed
// past the cache (no other kernel reads it again soon); the input, a few kilobytes, is read from the cache.
template <class T, int kRows>
__global__ void __launch_bounds__(kThreads)
    few_rows_kernel(const T* __restrict__ x, std::int64_t in, std::int64_t out, const std::uint8_t* __restrict__ weight,
                    const float* __restrict__ weight_scales, bool scale_per_out, const T* __restrict__ bias,
                    T* __restrict__ y) {
  const int lane = threadIdx.x % 32;
  const std::int64_t first = (static_cast<std::int64_t>(blockIdx.x) * kWarps + threadIdx.x / 32) * kOutsPerWarp;
  if (first >= out) return;
  float sums[kRows][kOutsPerWarp] = {};
  for (std::int64_t i = static_cast<std::int64_t>(lane) * kValuesPerLoad; i < in; i += 32 * kValuesPerLoad) {
    uint4 loaded[kOutsPerWarp];
#pragma unroll
    for (int o = 0; o < kOutsPerWarp; ++o)
      loaded[o] = first + o < out ? __ldcs(reinterpret_cast<const uint4*>(weight + (first + o) * in + i))
                                  : make_uint4(0, 0, 0, 0);
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      float w[kOutsPerWarp][8];
#pragma unroll
      for (int o = 0; o < kOutsPerWarp; ++o)
        e4m3_to_float(half == 0 ? loaded[o].x : loaded[o].z, half == 0 ? loaded[o].y : loaded[o].w, w[o]);
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        const Pack<T> pack = *reinterpret_cast<const Pack<T>*>(x + r * in + i + half * 8);
#pragma unroll
        for (int k = 0; k < 8; ++k) {
          const float value = to_float(pack.values[k]);
#pragma unroll
          for (int o = 0; o < kOutsPerWarp; ++o) sums[r][o] = fmaf(value, w[o][k], sums[r][o]);
        }
      }
    }
  }
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
#pragma unroll
    for (int o = 0; o < kOutsPerWarp; ++o) {
      float sum = sums[r][o];
#pragma unroll
      for (int offset = 16; offset > 0; offset /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, offset);
      if (lane == o && first + o < out) {
        const float scale = weight_scales[scale_per_out ? first + o : 0];
        y[r * out + first + o] = from_float<T>(sum * scale + (bias != nullptr ? to_float(bias[first + o]) : 0.0f));
      }
    }
  }
}

template <class T, int kRows>
void launch_rows(const T* x, const FewRowsShape& shape, const std::uint8_t* weight, const float* weight_scales,
                 bool scale_per_out, const T* bias, T* y, cudaStream_t stream) {
  constexpr std::int64_t outs_per_block = kWarps * kOutsPerWarp;
  const dim3 grid(static_cast<unsigned>((shape.out + outs_per_block - 1) / outs_per_block)), block(kThreads);
  few_rows_kernel<T, kRows>
      <<<grid, block, 0, stream>>>(x, shape.in, shape.out, weight, weight_scales, scale_per_out, bias, y);
}

template <class T>
cudaError_t launch(const void* x, const FewRowsShape& shape, const std::uint8_t* weight, const float* weight_scales,
                   bool scale_per_out, const void* bias, void* y, cudaStream_t stream) {
  const auto* in = static_cast<const T*>(x);
  const auto* b = static_cast<const T*>(bias);
  auto* out = static_cast<T*>(y);
  switch (shape.rows) {
    case 1: launch_rows<T, 1>(in, shape, weight, weight_scales, scale_per_out, b, out, stream); break;
    case 2: launch_rows<T, 2>(in, shape, weight, weight_scales, scale_per_out, b, out, stream); break;
    case 3: launch_rows<T, 3>(in, shape, weight, weight_scales, scale_per_out, b, out, stream); break;
    case 4: launch_rows<T, 4>(in, shape, weight, weight_scales, scale_per_out, b, out, stream); break;
    default: return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

static_assert(kFp8FewRowsMax == 4, "a kernel for each row count up to kFp8FewRowsMax");

}  // namespace

cudaError_t fp8_few_rows_linear(const void* x, KernelDType dtype, const FewRowsShape& shape, const std::uint8_t* weight,
                                const float* weight_scales, bool scale_per_out, const void* bias, void* y,
                                cudaStream_t stream) {
  if (shape.rows == 0 || shape.out == 0) return cudaSuccess;
  if (shape.in % kValuesPerLoad != 0) return cudaErrorInvalidValue;
  switch (dtype) {
    case KernelDType::bf16:
      return launch<__nv_bfloat16>(x, shape, weight, weight_scales, scale_per_out, bias, y, stream);
    case KernelDType::f16: return launch<__half>(x, shape, weight, weight_scales, scale_per_out, bias, y, stream);
    case KernelDType::f32: return launch<float>(x, shape, weight, weight_scales, scale_per_out, bias, y, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace vramguard::cuda
