#include "torch_tensors.hpp"

#include <algorithm>
#include <map>

#include <ATen/Functions.h>

#include "core/errors.hpp"
#include "fp8_weights.hpp"
#include "model/scaled_fp8.hpp"

namespace vramguard::runtime {

c10::ScalarType compute_dtype(const Component& component, std::optional<DType> target) {
  std::map<DType, std::uint64_t> bytes;
  for (const auto& unit : component.units)
    for (const auto& tensor : unit.tensors)
      // Weights stored in fp8 compute in the dtype of the rest (biases, norms). Their scales are not counted:
      // float32 by convention, one a row outweighs a bf16 model's biases and once made it compute in float32.
      if (dtype_is_floating(tensor.dtype) && !is_fp8(tensor.dtype) && dtype_is_convertible(tensor.dtype) &&
          !is_fp8_scale(tensor.name))
        bytes[placed_dtype(tensor.dtype, target)] += tensor.bytes;
  if (bytes.empty()) return target ? scalar_type_of(*target, component.name) : c10::kBFloat16;
  const auto most =
      std::max_element(bytes.begin(), bytes.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
  return scalar_type_of(most->first, component.name);
}

c10::ScalarType scalar_type_of(DType dtype, const std::string& tensor) {
  switch (dtype) {
    case DType::F64: return c10::kDouble;
    case DType::F32: return c10::kFloat;
    case DType::F16: return c10::kHalf;
    case DType::BF16: return c10::kBFloat16;
    case DType::I64: return c10::kLong;
    case DType::I32: return c10::kInt;
    case DType::I16: return c10::kShort;
    case DType::I8: return c10::kChar;
    case DType::U8: return c10::kByte;
    case DType::BOOL: return c10::kBool;
    case DType::F8_E4M3:
    case DType::F8_E5M2: return fp8_storage_type(dtype);  // turned into the compute dtype at use
    default: break;
  }
  throw InputError(tensor, "is " + std::string(dtype_name(dtype)) + ", which this libtorch cannot compute with",
                   "convert the checkpoint to bf16, fp16, fp8 (e4m3 or e5m2) or fp32");
}

c10::Device compute_device(DeviceId placed, bool blocks_on_host) {
  if (!placed.is_gpu() || blocks_on_host) return c10::Device(c10::kCPU);
  return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(placed.index));
}

at::Tensor view_of(void* data, const std::vector<std::int64_t>& shape, c10::ScalarType type, c10::Device device) {
  return at::from_blob(data, shape, at::TensorOptions().dtype(type).device(device));
}

}  // namespace vramguard::runtime
