#pragma once
// A tensor a forward pass made on the host (positions, window orders, masks) moved to the device its
// units run on, without stalling the step.
//
// From pageable memory a copy to the GPU is synchronous: it waits, host thread and all, behind the
// window's weight copies already queued on the copy engine, and no further work is issued meanwhile.
// Staged through pinned memory it is issued without blocking; the compute stream alone waits for it.
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

namespace vramguard::runtime {

at::Tensor host_to_device(const at::Tensor& tensor, c10::Device device);

}  // namespace vramguard::runtime
