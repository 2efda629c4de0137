#pragma once
// Tensors over memory vramguard owns: at::Tensor views (no copy, no ownership) of the blocks and
// window slots the loader filled, with the dtype and shape the checkpoint gave them.
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "vramguard/device_id.hpp"
#include "vramguard/dtype.hpp"
#include "vramguard/model_graph.hpp"
#include "vramguard/runtime/export.hpp"

namespace vramguard::runtime {

// Throws InputError naming the tensor when libtorch has no such dtype (F6, F4, or F8 before 2.1).
c10::ScalarType scalar_type_of(DType dtype, const std::string& tensor);
// The dtype a component computes in: the one most of its floating bytes have once placed (fp8 weights'
// scales aside). Exported for the runtime tests.
VRAMGUARD_RUNTIME_API c10::ScalarType compute_dtype(const Component& component, std::optional<DType> target);
// The device a placement's device means for compute: a CUDA device, or the CPU where the simulated
// runtime (or cpu mode) computes in a GPU's place.
c10::Device compute_device(DeviceId placed, bool blocks_on_host);
at::Tensor view_of(void* data, const std::vector<std::int64_t>& shape, c10::ScalarType type, c10::Device device);

}  // namespace vramguard::runtime
