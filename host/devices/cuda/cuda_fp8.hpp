#pragma once
// fp8 matmuls for the runtime's Linears (runtime/src/fp8_weights.cpp, fp8_matmul_linear) on the tensor
// cores of GPUs that have them (sm_89 and later: Ada, Hopper, Blackwell).
//
// Only in builds against a CUDA libtorch (PyTorch 2.x): the float8 dtypes and torch._scaled_mm are not in
// Debian's libtorch 1.13. PyTorch's row-wise scaled fp8 matmul is built for Linux only (its CUTLASS
// kernels); vramguard runs on Linux.
#include <ATen/core/Tensor.h>

#include <string>

#include "devices/cuda/fp8_few_rows.hpp"
#include "devices/cuda/fp8_rows.hpp"

namespace vramguard::cuda {

// The GPUs CUDA sees, and whether `gpu` has fp8 tensor cores (compute capability 8.9 or later); its name
// and compute capability for messages ("NVIDIA A100-SXM4-80GB, sm_80").
int gpu_count();
bool has_fp8_matmuls(int gpu);
std::string gpu_description(int gpu);

// Whether fp8_linear takes a Linear of this input and weight: an e4m3 weight whose sides are multiples of
// 16 (the fp8 matmul's rule), an input on a GPU in bf16, fp16 or fp32.
bool fp8_linear_takes(const at::Tensor& x, const at::Tensor& weight);

// A Linear's input as an fp8 matmul takes it: activation(x)'s rows in e4m3 with a scale each (one
// kernel, fp8_rows.cu); several matmuls of the same input may share it.
struct Fp8Rows {
  at::Tensor values;  // [rows, in], e4m3
  at::Tensor scales;  // [rows, 1], float32
};
Fp8Rows quantize_rows(const at::Tensor& x, RowActivation activation = RowActivation::none);

// AdaLN's modulated norm quantized by rows, one kernel (fp8_rows.cu): shift + LayerNorm(x) × (1 + scale)
// over x [batch, tokens, in], with shift and scale [batch, 1, in]; the tokens from `later_from` on take
// shift_after and scale_after instead (later_from = tokens where none do). What quantize_rows gives of
// the ops' result, but for float rounding. `_takes`: x on a GPU, of a kernel dtype, `in` a multiple of 8
// up to kModulatedNormMaxColumns.
bool modulated_norm_rows_take(const at::Tensor& x);
Fp8Rows quantize_modulated_norm_rows(const at::Tensor& x, const at::Tensor& shift, const at::Tensor& scale,
                                     std::int64_t later_from, const at::Tensor& shift_after,
                                     const at::Tensor& scale_after, double eps);

// rows · (weight × weight_scale)ᵀ + bias as one fp8 matmul, accumulated in float32 and written in `dtype`
// as [rows, out]: the weight's bytes used as they are with its scale per tensor or per row. `weight`
// holds e4m3 values [out, in] (float8 or bytes); `weight_scale` is empty, one value or one per row;
// `bias` may be undefined. Throws c10::Error where PyTorch's fp8 matmul refuses the shapes or the GPU.
at::Tensor fp8_linear(const Fp8Rows& rows, c10::ScalarType dtype, const at::Tensor& weight,
                      const at::Tensor& weight_scale, const at::Tensor& bias);

// Whether fp8_few_rows_linear takes this Linear (fp8_linear_takes it, x has at most kFp8FewRowsMax rows,
// the weight is contiguous and 16-byte aligned): where it does, it is the faster of the two (a Linear of
// a few rows costs its weight's bytes, and the tensor cores' matmul would first pad and quantize the rows).
bool fp8_few_rows_take(const at::Tensor& x, const at::Tensor& weight);

// x · (weight × weight_scale)ᵀ + bias in x's shape and dtype, x unquantized, the e4m3 weight read as
// stored (fp8_few_rows.cu), accumulated in float32.
at::Tensor fp8_few_rows_linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& weight_scale,
                               const at::Tensor& bias);

// x · (weight × weight_scale)ᵀ + bias in x's shape and dtype: fp8_few_rows_linear where it takes x,
// otherwise quantize_rows, then the matmul above.
at::Tensor fp8_linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& weight_scale,
                      const at::Tensor& bias);

}  // namespace vramguard::cuda
