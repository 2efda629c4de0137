#include "torch_tensors.hpp"

#include <ATen/Functions.h>

#include "core/errors.hpp"
#include "fp8_weights.hpp"
#include "model/compute_dtype.hpp"

namespace vramguard::runtime {

c10::ScalarType compute_dtype(const Component& component, std::optional<DType> target) {
  return scalar_type_of(component_compute_dtype(component, target), component.name);
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
