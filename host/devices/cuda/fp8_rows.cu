#include "devices/cuda/fp8_rows.hpp"

#include <cuda_fp8.h>

#include "devices/cuda/kernel_elements.cuh"

namespace vramguard::cuda {
namespace {

constexpr int kThreads = 256;

// GELU, tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), in the order PyTorch's
// kernel evaluates it.
__device__ inline float gelu_tanh(float x) {
  constexpr float kBeta = 0.7978845608028654f;  // sqrt(2 / pi)
  constexpr float kKappa = 0.044715f;
  const float cube = x * x * x;
  const float inner = kBeta * (x + kKappa * cube);
  return 0.5f * x * (1.0f + tanhf(inner));
}

// An element as the quantization sees it: the activation's result in T, as the op would have stored it.
template <RowActivation A, class T>
__device__ inline float activated(T v) {
  if constexpr (A == RowActivation::gelu_tanh) return to_float(from_float<T>(gelu_tanh(to_float(v))));
  else return to_float(v);
}

// A reduction over the block, every thread given the result: each warp's by shuffles, then the warps'
// through shared memory. It may be called again in the same kernel: the first barrier keeps a warp's
// new partial from overwriting the last result before every thread has read it.
template <class Combine>
__device__ float block_reduce(float value, Combine combine) {
  __shared__ float partials[kThreads / 32];
  __syncthreads();
  for (int offset = 16; offset > 0; offset /= 2) value = combine(value, __shfl_xor_sync(0xffffffffu, value, offset));
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane == 0) partials[warp] = value;
  __syncthreads();
  if (warp == 0) {
    value = lane < kThreads / 32 ? partials[lane] : combine.identity;
    for (int offset = 16; offset > 0; offset /= 2) value = combine(value, __shfl_xor_sync(0xffffffffu, value, offset));
    if (lane == 0) partials[0] = value;
  }
  __syncthreads();
  return partials[0];
}

struct Largest {
  float identity = 0.0f;
  __device__ float operator()(float a, float b) const { return fmaxf(a, b); }
};
struct Sum {
  float identity = 0.0f;
  __device__ float operator()(float a, float b) const { return a + b; }
};

__device__ float block_max(float value) { return block_reduce(value, Largest{}); }
__device__ float block_sum(float value) { return block_reduce(value, Sum{}); }

// The packs of a row each thread keeps in registers between finding the row's largest magnitude and
// quantizing it: 256 threads x 6 packs x 8 = 12,288 columns, an MMDiT's MLP hidden layer. Longer rows
// are read a second time (from the cache) instead.
constexpr int kHeldPacks = 6;

// An element's activation, as the op would have stored it in T.
template <RowActivation A, class T>
__device__ inline Pack<T> activated_pack(const Pack<T>& pack) {
  if constexpr (A == RowActivation::none) {
    return pack;
  } else {
    Pack<T> out;
#pragma unroll
    for (int k = 0; k < 8; ++k) out.values[k] = from_float<T>(activated<A>(pack.values[k]));
    return out;
  }
}

template <class T>
__device__ inline uint2 quantized_pack(const Pack<T>& pack, float inverse) {
  union {
    std::uint8_t bytes[8];
    uint2 word;
  } quantized;
#pragma unroll
  for (int k = 0; k < 8; ++k)
    quantized.bytes[k] = __nv_cvt_float_to_fp8(to_float(pack.values[k]) * inverse, __NV_SATFINITE, __NV_E4M3);
  return quantized.word;
}

// One block a row: its largest magnitude, then its values scaled and rounded. `kHeld`: the row's
// activated packs stay in registers between the two (read and activated once); otherwise the row is
// read again, from the cache (a row of activations is a few tens of kilobytes), and activated again.
template <class T, RowActivation A, bool kHeld>
__global__ void __launch_bounds__(kThreads)
    quantize_rows_kernel(const T* __restrict__ in, std::int64_t cols, std::uint8_t* __restrict__ out,
                         float* __restrict__ scales) {
  const std::int64_t row = blockIdx.x;
  const auto* packs = reinterpret_cast<const Pack<T>*>(in + row * cols);
  auto* out_packs = reinterpret_cast<uint2*>(out + row * cols);
  const std::int64_t count = cols / 8;
  float largest = 0.0f;
  Pack<T> held[kHeld ? kHeldPacks : 1];
  if constexpr (kHeld) {
#pragma unroll
    for (int j = 0; j < kHeldPacks; ++j) {
      const std::int64_t i = threadIdx.x + static_cast<std::int64_t>(j) * kThreads;
      if (i >= count) break;
      held[j] = activated_pack<A>(packs[i]);
#pragma unroll
      for (int k = 0; k < 8; ++k) largest = fmaxf(largest, fabsf(to_float(held[j].values[k])));
    }
  } else {
    for (std::int64_t i = threadIdx.x; i < count; i += kThreads) {
      const Pack<T> pack = activated_pack<A>(packs[i]);
#pragma unroll
      for (int k = 0; k < 8; ++k) largest = fmaxf(largest, fabsf(to_float(pack.values[k])));
    }
  }
  largest = block_max(largest);
  const float scale = largest > 0.0f ? largest / kE4m3Max : 1.0f;
  const float inverse = 1.0f / scale;
  if (threadIdx.x == 0) scales[row] = scale;
  if constexpr (kHeld) {
#pragma unroll
    for (int j = 0; j < kHeldPacks; ++j) {
      const std::int64_t i = threadIdx.x + static_cast<std::int64_t>(j) * kThreads;
      if (i >= count) break;
      out_packs[i] = quantized_pack(held[j], inverse);
    }
  } else {
    for (std::int64_t i = threadIdx.x; i < count; i += kThreads)
      out_packs[i] = quantized_pack(activated_pack<A>(packs[i]), inverse);
  }
}

template <class T, RowActivation A>
void launch_rows(const T* in, std::int64_t rows, std::int64_t cols, std::uint8_t* out, float* scales,
                 cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(rows)), block(kThreads);
  if (cols / 8 <= static_cast<std::int64_t>(kThreads) * kHeldPacks)
    quantize_rows_kernel<T, A, true><<<grid, block, 0, stream>>>(in, cols, out, scales);
  else quantize_rows_kernel<T, A, false><<<grid, block, 0, stream>>>(in, cols, out, scales);
}

template <class T>
void launch(const T* in, RowActivation activation, std::int64_t rows, std::int64_t cols, std::uint8_t* out,
            float* scales, cudaStream_t stream) {
  switch (activation) {
    case RowActivation::none: launch_rows<T, RowActivation::none>(in, rows, cols, out, scales, stream); break;
    case RowActivation::gelu_tanh: launch_rows<T, RowActivation::gelu_tanh>(in, rows, cols, out, scales, stream); break;
  }
}

static_assert(kThreads * kHeldPacks * 8 == kModulatedNormMaxColumns, "a modulated row is held in registers whole");

// One block a row of shift + LayerNorm(x) × (1 + scale), quantized: the row read once and held in
// registers through its mean, its variance (two passes over the registers, as exact as float32 allows),
// the modulation and its largest magnitude. Each step rounded to T where the ops store it: the norm's
// output, then addcmul's.
template <class T, int kPacks>
__global__ void __launch_bounds__(kThreads)
    quantize_modulated_norm_rows_kernel(const T* __restrict__ in, std::int64_t cols, std::int64_t tokens,
                                        std::int64_t split, std::int64_t batch, const T* __restrict__ shift,
                                        const T* __restrict__ one_plus_scale, float eps, std::uint8_t* __restrict__ out,
                                        float* __restrict__ scales) {
  const std::int64_t row = blockIdx.x;
  const std::int64_t sample = row / tokens, token = row % tokens;
  const std::int64_t modulation = (token < split ? 0 : batch) + sample;
  const auto* packs = reinterpret_cast<const Pack<T>*>(in + row * cols);
  const auto* shift_packs = reinterpret_cast<const Pack<T>*>(shift + modulation * cols);
  const auto* scale_packs = reinterpret_cast<const Pack<T>*>(one_plus_scale + modulation * cols);
  auto* out_packs = reinterpret_cast<uint2*>(out + row * cols);
  const std::int64_t count = cols / 8;
  Pack<T> held[kPacks];
  float sum = 0.0f;
#pragma unroll
  for (int j = 0; j < kPacks; ++j) {
    const std::int64_t i = threadIdx.x + static_cast<std::int64_t>(j) * kThreads;
    if (i >= count) break;
    held[j] = packs[i];
#pragma unroll
    for (int k = 0; k < 8; ++k) sum += to_float(held[j].values[k]);
  }
  const float mean = block_sum(sum) / static_cast<float>(cols);
  float squares = 0.0f;
#pragma unroll
  for (int j = 0; j < kPacks; ++j) {
    const std::int64_t i = threadIdx.x + static_cast<std::int64_t>(j) * kThreads;
    if (i >= count) break;
#pragma unroll
    for (int k = 0; k < 8; ++k) {
      const float deviation = to_float(held[j].values[k]) - mean;
      squares += deviation * deviation;
    }
  }
  const float rstd = rsqrtf(block_sum(squares) / static_cast<float>(cols) + eps);
  float largest = 0.0f;
#pragma unroll
  for (int j = 0; j < kPacks; ++j) {
    const std::int64_t i = threadIdx.x + static_cast<std::int64_t>(j) * kThreads;
    if (i >= count) break;
    const Pack<T> s = shift_packs[i], c = scale_packs[i];
#pragma unroll
    for (int k = 0; k < 8; ++k) {
      const float normalized = to_float(from_float<T>((to_float(held[j].values[k]) - mean) * rstd));
      held[j].values[k] = from_float<T>(to_float(s.values[k]) + normalized * to_float(c.values[k]));
      largest = fmaxf(largest, fabsf(to_float(held[j].values[k])));
    }
  }
  largest = block_max(largest);
  const float scale = largest > 0.0f ? largest / kE4m3Max : 1.0f;
  const float inverse = 1.0f / scale;
  if (threadIdx.x == 0) scales[row] = scale;
#pragma unroll
  for (int j = 0; j < kPacks; ++j) {
    const std::int64_t i = threadIdx.x + static_cast<std::int64_t>(j) * kThreads;
    if (i >= count) break;
    out_packs[i] = quantized_pack(held[j], inverse);
  }
}

template <class T, int kPacks>
void launch_modulated_held(const T* in, const ModulatedNormShape& shape, const void* shift, const void* one_plus_scale,
                           float eps, std::uint8_t* out, float* scales, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(shape.batch * shape.tokens)), block(kThreads);
  quantize_modulated_norm_rows_kernel<T, kPacks>
      <<<grid, block, 0, stream>>>(in, shape.cols, shape.tokens, shape.split, shape.batch, static_cast<const T*>(shift),
                                   static_cast<const T*>(one_plus_scale), eps, out, scales);
}

// As many packs a thread as the row needs (an MMDiT's 3,072 columns: 2), so that no registers are set
// aside for packs the row does not have.
template <class T>
void launch_modulated(const T* in, const ModulatedNormShape& shape, const void* shift, const void* one_plus_scale,
                      float eps, std::uint8_t* out, float* scales, cudaStream_t stream) {
  switch ((shape.cols / 8 + kThreads - 1) / kThreads) {
    case 1: launch_modulated_held<T, 1>(in, shape, shift, one_plus_scale, eps, out, scales, stream); break;
    case 2: launch_modulated_held<T, 2>(in, shape, shift, one_plus_scale, eps, out, scales, stream); break;
    case 3: launch_modulated_held<T, 3>(in, shape, shift, one_plus_scale, eps, out, scales, stream); break;
    case 4: launch_modulated_held<T, 4>(in, shape, shift, one_plus_scale, eps, out, scales, stream); break;
    case 5: launch_modulated_held<T, 5>(in, shape, shift, one_plus_scale, eps, out, scales, stream); break;
    default: launch_modulated_held<T, kHeldPacks>(in, shape, shift, one_plus_scale, eps, out, scales, stream); break;
  }
}

}  // namespace

cudaError_t quantize_rows_e4m3(const void* in, KernelDType dtype, RowActivation activation, std::int64_t rows,
                               std::int64_t cols, std::uint8_t* out, float* scales, cudaStream_t stream) {
  if (rows == 0) return cudaSuccess;
  switch (dtype) {
    case KernelDType::bf16:
      launch(static_cast<const __nv_bfloat16*>(in), activation, rows, cols, out, scales, stream);
      break;
    case KernelDType::f16: launch(static_cast<const __half*>(in), activation, rows, cols, out, scales, stream); break;
    case KernelDType::f32: launch(static_cast<const float*>(in), activation, rows, cols, out, scales, stream); break;
  }
  return cudaGetLastError();
}

cudaError_t quantize_modulated_norm_rows_e4m3(const void* in, KernelDType dtype, const ModulatedNormShape& shape,
                                              const void* shift, const void* one_plus_scale, float eps,
                                              std::uint8_t* out, float* scales, cudaStream_t stream) {
  if (shape.batch * shape.tokens == 0) return cudaSuccess;
  switch (dtype) {
    case KernelDType::bf16:
      launch_modulated(static_cast<const __nv_bfloat16*>(in), shape, shift, one_plus_scale, eps, out, scales, stream);
      break;
    case KernelDType::f16:
      launch_modulated(static_cast<const __half*>(in), shape, shift, one_plus_scale, eps, out, scales, stream);
      break;
    case KernelDType::f32:
      launch_modulated(static_cast<const float*>(in), shape, shift, one_plus_scale, eps, out, scales, stream);
      break;
  }
  return cudaGetLastError();
}

}  // namespace vramguard::cuda
