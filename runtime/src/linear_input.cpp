#include "linear_input.hpp"

#include <ATen/Functions.h>

#include <cstdint>
#include <mutex>
#include <set>
#include <utility>

#include "logging/log.hpp"
#if VRAMGUARD_FP8_MATMUL
#include "devices/cuda/cuda_fp8.hpp"
#endif

namespace vramguard::runtime {

bool runs_fp8_matmuls_on(int gpu) {
#if VRAMGUARD_FP8_MATMUL
  return gpu >= 0 && gpu < cuda::gpu_count() && cuda::has_fp8_matmuls(gpu);
#else
  (void)gpu;
  return false;
#endif
}

PreparedLinearInput::PreparedLinearInput(at::Tensor x, LinearInput input) : x_(std::move(x)), input_(input) {}

const at::Tensor& PreparedLinearInput::activated() {
  if (!activated_.defined()) activated_ = input_ == LinearInput::gelu_tanh ? at::gelu(x_, "tanh") : x_;
  return activated_;
}

std::optional<at::Tensor> PreparedLinearInput::fp8_linear(const at::Tensor& weight, const at::Tensor& scale,
                                                          const at::Tensor& bias) {
#if VRAMGUARD_FP8_MATMUL
  if (!cuda::fp8_linear_takes(x_, weight)) return std::nullopt;
  // Shapes PyTorch's fp8 matmul refused once are not tried again: an exception a layer costs milliseconds.
  static std::mutex mutex;
  static std::set<std::pair<std::int64_t, std::int64_t>> refused;
  const std::pair<std::int64_t, std::int64_t> shape{weight.size(0), weight.size(1)};
  {
    std::lock_guard lock(mutex);
    if (refused.count(shape)) return std::nullopt;
  }
  try {
    if (!fp8_values_.defined()) {
      const auto activation =
          input_ == LinearInput::gelu_tanh ? cuda::RowActivation::gelu_tanh : cuda::RowActivation::none;
      cuda::Fp8Rows rows = cuda::quantize_rows(x_, activation);
      fp8_values_ = std::move(rows.values);
      fp8_scales_ = std::move(rows.scales);
    }
    auto shape_out = x_.sizes().vec();
    shape_out.back() = weight.size(0);
    return cuda::fp8_linear({fp8_values_, fp8_scales_}, x_.scalar_type(), weight, scale, bias).view(shape_out);
  } catch (const c10::OutOfMemoryError&) {
    throw;  // the step's out-of-memory, the guard's business: not a refused shape
  } catch (const c10::Error& e) {
    std::lock_guard lock(mutex);
    refused.insert(shape);
    log::warn("an fp8 matmul of a ", shape.first, "x", shape.second,
              " weight was refused; that shape computes in its dequantized dtype: ", e.what_without_backtrace());
    return std::nullopt;
  }
#else
  (void)weight, (void)scale, (void)bias;
  return std::nullopt;
#endif
}

}  // namespace vramguard::runtime
