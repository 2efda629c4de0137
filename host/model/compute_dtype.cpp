#include "model/compute_dtype.hpp"

#include <algorithm>
#include <cstdint>
#include <map>

#include "model/scaled_fp8.hpp"

namespace vramguard {

DType component_compute_dtype(const Component& component, std::optional<DType> target) {
  std::map<DType, std::uint64_t> bytes;
  for (const auto& unit : component.units)
    for (const auto& tensor : unit.tensors)
      if (dtype_is_floating(tensor.dtype) && dtype_is_convertible(tensor.dtype) && !is_fp8_scale(tensor.name))
        bytes[placed_dtype(tensor.dtype, target)] += tensor.bytes;
  if (bytes.empty()) return target.value_or(DType::BF16);
  return std::max_element(bytes.begin(), bytes.end(), [](const auto& a, const auto& b) { return a.second < b.second; })
      ->first;
}

}  // namespace vramguard
