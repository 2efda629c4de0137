#pragma once
// A CUDA kernel of vramguard's own (fp8_few_rows.cu, nvcc): a Linear of a few rows — AdaLN's modulation
// (one row a sample: the timestep's embedding), the timestep embedder's — against an e4m3 weight read as
// it is stored. Such a Linear reads its weight once and does little arithmetic with it, so its time is the
// weight's bytes; PyTorch's fp8 matmul pads the rows to a tile and quantizes them first, which made it
// slower than bf16 there (0.85-0.94x on img_mod's 3,072 -> 18,432, H100). Here the weight's bytes are all
// that crosses memory, at half bf16's, and the input stays in its dtype (no rounding to e4m3).
// No libtorch here: cuda_fp8.cpp hands it PyTorch's tensors and stream.
#include <cuda_runtime_api.h>

#include <cstdint>

#include "devices/cuda/kernel_dtype.hpp"

namespace vramguard::cuda {

// The most rows the kernel takes: past them the weight's bytes no longer bound its time (each weight
// byte feeds a multiply-add a row on CUDA cores). On the H100, img_mod's Linear ran 1.6-1.7x faster than
// bf16's at 1 and 2 rows, 1.4x at 4, and 0.89x at 8, where the tensor cores' fp8 matmul was faster.
inline constexpr std::int64_t kFp8FewRowsMax = 4;

struct FewRowsShape {
  std::int64_t rows = 0, in = 0, out = 0;
};

// y[r][o] = (sum_i x[r][i] · weight[o][i]) · scale_o + bias[o], accumulated in float32 and rounded once
// to `dtype`: x is rows × in of `dtype` (rows ≤ kFp8FewRowsMax), weight out × in of e4m3 bytes, row-major;
// scale_o is weight_scales[o] where scale_per_out, else weight_scales[0]; bias (of `dtype`) may be null;
// y is rows × out of `dtype`. `in` a multiple of 16; x and weight 16-byte aligned. Launched on `stream`;
// returns the launch's status.
cudaError_t fp8_few_rows_linear(const void* x, KernelDType dtype, const FewRowsShape& shape, const std::uint8_t* weight,
                                const float* weight_scales, bool scale_per_out, const void* bias, void* y,
                                cudaStream_t stream);

}  // namespace vramguard::cuda
