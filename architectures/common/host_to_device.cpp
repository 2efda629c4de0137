#include "common/host_to_device.hpp"

namespace vramguard::runtime {

at::Tensor host_to_device(const at::Tensor& tensor, c10::Device device) {
  if (!device.is_cuda() || !tensor.device().is_cpu()) return tensor.to(device);
  // The caching host allocator keeps the pinned block until the copy that reads it is done.
  return tensor.contiguous().pin_memory().to(device, /*non_blocking=*/true);
}

}  // namespace vramguard::runtime
