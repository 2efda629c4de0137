#include "devices/cuda/cuda_fp8.hpp"

#include <ATen/Functions.h>
#include <ATen/cuda/CUDAContextLight.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/util/Exception.h>

#include <atomic>
#include <cstdint>
#include <string>

#include "devices/cuda/cuda_kernel_dtype.hpp"
#include "devices/cuda/cuda_support.hpp"
#include "devices/cuda/fp8_rows.hpp"
#include "devices/device_runtime.hpp"

namespace vramguard::cuda {

int gpu_count() { return static_cast<int>(c10::cuda::device_count()); }

std::string gpu_description(int gpu) {
  const cudaDeviceProp* properties = at::cuda::getDeviceProperties(static_cast<c10::DeviceIndex>(gpu));
  return std::string(properties->name) + ", sm_" + std::to_string(properties->major) +
         std::to_string(properties->minor);
}

bool has_fp8_matmuls(int gpu) {
  const cudaDeviceProp* properties = at::cuda::getDeviceProperties(static_cast<c10::DeviceIndex>(gpu));
  return has_fp8_tensor_cores(properties->major, properties->minor);
}

bool fp8_linear_takes(const at::Tensor& x, const at::Tensor& weight) {
  return x.is_cuda() && kernel_dtype_of(x.scalar_type()).has_value() && weight.dim() == 2 && weight.size(0) % 16 == 0 &&
         weight.size(1) % 16 == 0 && x.size(-1) == weight.size(1);
}

Fp8Rows quantize_rows(const at::Tensor& x, RowActivation activation) {
  const c10::cuda::CUDAGuard on_its_gpu(x.device());
  const std::int64_t in = x.size(-1);
  at::Tensor rows = x.reshape({-1, in}).contiguous();
  if (reinterpret_cast<std::uintptr_t>(rows.data_ptr()) % 16 != 0) rows = rows.clone();  // the kernel's 16-byte loads
  const std::int64_t m = rows.size(0);
  const KernelDType dtype = *kernel_dtype_of(x.scalar_type());  // fp8_linear_takes checked it
  Fp8Rows out{at::empty({m, in}, rows.options().dtype(at::kFloat8_e4m3fn)),
              at::empty({m, 1}, rows.options().dtype(at::kFloat))};
  check(quantize_rows_e4m3(rows.data_ptr(), dtype, activation, m, in, static_cast<std::uint8_t*>(out.values.data_ptr()),
                           out.scales.data_ptr<float>(), compute_stream(static_cast<int>(x.get_device()))),
        "quantizing a Linear's input to fp8");
  return out;
}

bool modulated_norm_rows_take(const at::Tensor& x) {
  return x.is_cuda() && x.dim() == 3 && kernel_dtype_of(x.scalar_type()).has_value() && x.size(-1) % 8 == 0 &&
         x.size(-1) <= kModulatedNormMaxColumns;
}

Fp8Rows quantize_modulated_norm_rows(const at::Tensor& x, const at::Tensor& shift, const at::Tensor& scale,
                                     std::int64_t later_from, const at::Tensor& shift_after,
                                     const at::Tensor& scale_after, double eps) {
  const c10::cuda::CUDAGuard on_its_gpu(x.device());
  const ModulatedNormShape shape{x.size(0), x.size(1), x.size(2), later_from};
  // One row of shift and of 1 + scale per sample, then (zero_cond_t) one per sample for the later tokens;
  // 1 + scale in x's dtype, as the ops' path rounds it. Fresh copies (a few rows): aligned for the kernel.
  // (A modulation of one sample for a batch, as broadcasting takes it, is repeated.)
  const auto rows_of = [&](const at::Tensor& t) {
    return t.to(x.scalar_type()).expand({shape.batch, 1, shape.cols}).reshape({shape.batch, shape.cols});
  };
  const bool apart = shape.split < shape.tokens;
  const at::Tensor shifts =
      apart ? at::cat({rows_of(shift), rows_of(shift_after)}) : rows_of(shift).clone(at::MemoryFormat::Contiguous);
  const at::Tensor scales_plus_one = (apart ? at::cat({rows_of(scale), rows_of(scale_after)}) : rows_of(scale)).add(1);
  at::Tensor in = x.contiguous();
  if (reinterpret_cast<std::uintptr_t>(in.data_ptr()) % 16 != 0) in = in.clone();  // the kernel's 16-byte loads
  Fp8Rows out{at::empty({shape.batch * shape.tokens, shape.cols}, in.options().dtype(at::kFloat8_e4m3fn)),
              at::empty({shape.batch * shape.tokens, 1}, in.options().dtype(at::kFloat))};
  check(quantize_modulated_norm_rows_e4m3(
            in.data_ptr(), *kernel_dtype_of(x.scalar_type()), shape, shifts.data_ptr(), scales_plus_one.data_ptr(),
            static_cast<float>(eps), static_cast<std::uint8_t*>(out.values.data_ptr()), out.scales.data_ptr<float>(),
            compute_stream(static_cast<int>(x.get_device()))),
        "quantizing a modulated norm to fp8");
  return out;
}

at::Tensor fp8_linear(const Fp8Rows& rows, c10::ScalarType dtype, const at::Tensor& weight,
                      const at::Tensor& weight_scale, const at::Tensor& bias) {
  const c10::cuda::CUDAGuard on_its_gpu(rows.values.device());
  const std::int64_t out = weight.size(0);
  const auto options = rows.scales.options();
  // One scale per output feature: the weight's own per row, or its one scale repeated.
  const at::Tensor scale =
      weight_scale.defined() ? weight_scale.to(rows.values.device(), at::kFloat).reshape({-1}) : at::ones({1}, options);
  const at::Tensor column_scales = scale.expand({out}).reshape({1, out}).contiguous();
  // Row-wise scaled fp8 matmuls write bf16; their bias is bf16 too. Other dtypes add theirs afterwards.
  const bool bf16 = dtype == at::kBFloat16;
  const at::Tensor values = weight.scalar_type() == at::kFloat8_e4m3fn ? weight : weight.view(at::kFloat8_e4m3fn);
  const c10::optional<at::Tensor> fused_bias = bf16 && bias.defined() ? c10::optional<at::Tensor>(bias) : c10::nullopt;
  // Fast accumulation (Hopper's fp8 schedule without periodic promotion) where PyTorch takes it for
  // row-wise scales; the exact one where it refuses.
  static std::atomic<bool> fast_accumulation{true};
  at::Tensor y;
  try {
    y = at::_scaled_mm(rows.values, values.t(), rows.scales, column_scales, fused_bias, c10::nullopt, at::kBFloat16,
                       fast_accumulation.load());
  } catch (const c10::OutOfMemoryError&) {
    throw;
  } catch (const c10::Error&) {
    if (!fast_accumulation.exchange(false)) throw;
    y = at::_scaled_mm(rows.values, values.t(), rows.scales, column_scales, fused_bias, c10::nullopt, at::kBFloat16,
                       false);
  }
  if (!bf16) {
    y = y.to(dtype);
    if (bias.defined()) y.add_(bias);
  }
  return y;
}

bool fp8_few_rows_take(const at::Tensor& x, const at::Tensor& weight) {
  return fp8_linear_takes(x, weight) && x.numel() <= kFp8FewRowsMax * x.size(-1) && weight.is_contiguous() &&
         reinterpret_cast<std::uintptr_t>(weight.data_ptr()) % 16 == 0;
}

at::Tensor fp8_few_rows_linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& weight_scale,
                               const at::Tensor& bias) {
  const c10::cuda::CUDAGuard on_its_gpu(x.device());
  const FewRowsShape shape{x.numel() / x.size(-1), x.size(-1), weight.size(0)};
  at::Tensor rows = x.reshape({shape.rows, shape.in}).contiguous();
  if (reinterpret_cast<std::uintptr_t>(rows.data_ptr()) % 16 != 0) rows = rows.clone();  // the kernel's 16-byte loads
  const at::Tensor scales = weight_scale.defined() ? weight_scale.to(x.device(), at::kFloat).reshape({-1}).contiguous()
                                                   : at::ones({1}, x.options().dtype(at::kFloat));
  const at::Tensor bias_values = bias.defined() ? bias.to(x.device(), x.scalar_type()).contiguous() : at::Tensor();
  at::Tensor y = at::empty({shape.rows, shape.out}, x.options());
  check(fp8_few_rows_linear(rows.data_ptr(), *kernel_dtype_of(x.scalar_type()), shape,
                            static_cast<const std::uint8_t*>(weight.data_ptr()), scales.data_ptr<float>(),
                            scales.numel() > 1, bias_values.defined() ? bias_values.data_ptr() : nullptr, y.data_ptr(),
                            compute_stream(static_cast<int>(x.get_device()))),
        "an fp8 Linear of a few rows");
  auto sizes = x.sizes().vec();
  sizes.back() = shape.out;
  return y.view(sizes);
}

at::Tensor fp8_linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& weight_scale,
                      const at::Tensor& bias) {
  if (fp8_few_rows_take(x, weight)) return fp8_few_rows_linear(x, weight, weight_scale, bias);
  auto shape = x.sizes().vec();
  shape.back() = weight.size(0);
  return fp8_linear(quantize_rows(x), x.scalar_type(), weight, weight_scale, bias).view(shape);
}

}  // namespace vramguard::cuda
