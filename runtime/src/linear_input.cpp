#include "vramguard/runtime/linear_input.hpp"

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

std::int64_t fp8_few_rows_max() {
#if VRAMGUARD_FP8_MATMUL
  return cuda::kFp8FewRowsMax;
#else
  return 0;
#endif
}

namespace {

at::Tensor modulated_norm(const at::Tensor& x, const at::Tensor& shift, const at::Tensor& scale, double eps) {
  return at::addcmul(shift, at::layer_norm(x, {x.size(-1)}, {}, {}, eps), scale.add(1));
}

}  // namespace

PreparedLinearInput::PreparedLinearInput(at::Tensor x, LinearInput input) : x_(std::move(x)), input_(input) {}

PreparedLinearInput::PreparedLinearInput(ModulatedNorm modulated) : x_(modulated.x), modulated_(std::move(modulated)) {}

const at::Tensor& PreparedLinearInput::activated() {
  if (activated_.defined()) return activated_;
  if (modulated_) {
    const ModulatedNorm& m = *modulated_;
    const std::int64_t tokens = m.x.size(1), later = m.later_from();
    if (later == tokens) {
      activated_ = modulated_norm(m.x, m.shift, m.scale, m.eps);
    } else {
      // Range by range: the selection costs no [tokens, inner] tensor of its own.
      activated_ = at::cat({modulated_norm(m.x.narrow(1, 0, later), m.shift, m.scale, m.eps),
                            modulated_norm(m.x.narrow(1, later, tokens - later), m.shift_after, m.scale_after, m.eps)},
                           1);
    }
  } else {
    activated_ = input_ == LinearInput::gelu_tanh ? at::gelu(x_, "tanh") : x_;
  }
  return activated_;
}

void PreparedLinearInput::quantize() {
#if VRAMGUARD_FP8_MATMUL
  cuda::Fp8Rows rows;
  if (modulated_ && cuda::modulated_norm_rows_take(x_)) {
    const ModulatedNorm& m = *modulated_;
    rows =
        cuda::quantize_modulated_norm_rows(x_, m.shift, m.scale, m.later_from(), m.shift_after, m.scale_after, m.eps);
  } else if (modulated_) {
    rows = cuda::quantize_rows(activated());
  } else {
    rows = cuda::quantize_rows(
        x_, input_ == LinearInput::gelu_tanh ? cuda::RowActivation::gelu_tanh : cuda::RowActivation::none);
  }
  fp8_values_ = std::move(rows.values);
  fp8_scales_ = std::move(rows.scales);
#endif
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
    if (cuda::fp8_few_rows_take(x_, weight)) return cuda::fp8_few_rows_linear(activated(), weight, scale, bias);
    if (!fp8_values_.defined()) quantize();
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
