#include "fp8_weights.hpp"

#include <ATen/Functions.h>
#include <ATen/TensorOperators.h>

#include <array>
#include <cmath>
#include <limits>
#include <set>

#include "core/errors.hpp"
#if VRAMGUARD_FP8_MATMUL
#include "devices/cuda/cuda_fp8.hpp"
#endif

namespace vramguard::runtime {
namespace {

// Every byte's value in e4m3fn (bias 7, no infinities, 0x7f/0xff NaN) or e5m2 (bias 15, IEEE-like).
std::array<float, 256> fp8_values(DType dtype) {
  std::array<float, 256> values{};
  const bool e4m3 = dtype == DType::F8_E4M3;
  const int mantissa_bits = e4m3 ? 3 : 2, bias = e4m3 ? 7 : 15, top = e4m3 ? 15 : 31;
  for (int byte = 0; byte < 256; ++byte) {
    const int sign = byte >> 7, exponent = (byte >> mantissa_bits) & top, mantissa = byte & ((1 << mantissa_bits) - 1);
    const double fraction = static_cast<double>(mantissa) / (1 << mantissa_bits);
    double value = 0;
    if (exponent == 0) {
      value = std::ldexp(fraction, 1 - bias);
    } else if (e4m3 && exponent == top && mantissa == (1 << mantissa_bits) - 1) {
      value = std::numeric_limits<double>::quiet_NaN();
    } else if (!e4m3 && exponent == top) {
      value = mantissa == 0 ? std::numeric_limits<double>::infinity() : std::numeric_limits<double>::quiet_NaN();
    } else {
      value = std::ldexp(1 + fraction, exponent - bias);
    }
    values[static_cast<std::size_t>(byte)] = static_cast<float>(sign ? -value : value);
  }
  return values;
}

}  // namespace

c10::ScalarType fp8_storage_type(DType dtype) {
#if VRAMGUARD_TORCH_MAJOR > 2 || (VRAMGUARD_TORCH_MAJOR == 2 && VRAMGUARD_TORCH_MINOR >= 1)
  return dtype == DType::F8_E4M3 ? c10::ScalarType::Float8_e4m3fn : c10::ScalarType::Float8_e5m2;
#else
  (void)dtype;
  return c10::kByte;
#endif
}

at::Tensor dequantized(const at::Tensor& stored, DType stored_dtype, const at::Tensor& scale, c10::ScalarType dtype) {
  at::Tensor values;
  if (stored.scalar_type() == c10::kByte) {
    // Decoded by table: each byte indexes its value (int32 indices: a quarter of int64's memory).
    static const std::array<float, 256> e4m3 = fp8_values(DType::F8_E4M3), e5m2 = fp8_values(DType::F8_E5M2);
    const auto& table = stored_dtype == DType::F8_E4M3 ? e4m3 : e5m2;
    const at::Tensor lookup =
        at::from_blob(const_cast<float*>(table.data()), {256}, at::kFloat).to(stored.device(), dtype);
    values = lookup.index_select(0, stored.reshape({-1}).to(at::kInt)).view(stored.sizes());
  } else {
    values = stored.to(dtype);
  }
  if (!scale.defined()) return values;
  const at::Tensor s = scale.to(values.device(), dtype);
  // One scale for the tensor, or one per row (shape [rows] or [rows, 1]); in place: `values` is the one
  // weight-sized tensor a dequantized Linear adds to its activations.
  return s.numel() == 1 ? values.mul_(s.reshape({})) : values.mul_(s.reshape({values.size(0), 1}));
}

std::set<int> fp8_matmul_gpus(Fp8Compute::Mode mode, const InspectedModel& model, bool simulated) {
  std::set<int> gpus;
  if (mode == Fp8Compute::Mode::off) return gpus;
  bool e4m3_weights = false;
  for (const auto& component : model.graph.components)
    for (const auto& unit : component.units)
      for (const auto& tensor : unit.tensors)
        e4m3_weights |= tensor.dtype == DType::F8_E4M3 && tensor.shape.size() == 2;
  const bool on = mode == Fp8Compute::Mode::on;
  auto refuse = [](const std::string& why) {
    return UsageError("--fp8-compute on: " + why,
                      "use --fp8-compute auto (or off): the fp8 weights are then turned into the compute dtype at use");
  };
  if (!e4m3_weights) {
    if (on)
      throw UsageError("--fp8-compute on: the model has no fp8 (e4m3) weights to multiply",
                       "quantize a component as it loads (--weight-dtype transformer=fp8), read an fp8 checkpoint "
                       "(--component transformer=FILE), or leave --fp8-compute out");
    return gpus;
  }
  if (simulated) {
    if (on) throw refuse("a simulated GPU computes on the CPU, which has no fp8 matmuls");
    return gpus;
  }
#if VRAMGUARD_FP8_MATMUL
  for (int gpu = 0; gpu < cuda::gpu_count(); ++gpu) {
    if (cuda::has_fp8_matmuls(gpu)) gpus.insert(gpu);
    else if (on)
      throw refuse("cuda:" + std::to_string(gpu) + " (" + cuda::gpu_description(gpu) +
                   ") has no fp8 tensor cores (compute capability 8.9 or later: Ada, Hopper, Blackwell)");
  }
  if (on && gpus.empty()) throw refuse("there is no GPU here");
#else
  if (on) throw refuse("this build of vramguard has no fp8 matmul kernel (built without CUDA's nvcc)");
#endif
  return gpus;
}

bool fp8_matmuls_on_every_gpu(Fp8Compute::Mode mode, const InspectedModel& model, bool simulated) {
  const std::set<int> gpus = fp8_matmul_gpus(mode, model, simulated);
#if VRAMGUARD_FP8_MATMUL
  return !gpus.empty() && static_cast<int>(gpus.size()) == cuda::gpu_count();
#else
  return !gpus.empty();  // always empty: no kernel in this build
#endif
}

std::set<std::string> e4m3_weights(const InspectedModel& model, const std::string& component) {
  std::set<std::string> names;
  if (const Component* c = model.graph.find_component(component))
    for (const auto& unit : c->units)
      for (const auto& tensor : unit.tensors)
        if (tensor.dtype == DType::F8_E4M3 && tensor.shape.size() == 2) names.insert(tensor.name);
  return names;
}

}  // namespace vramguard::runtime
