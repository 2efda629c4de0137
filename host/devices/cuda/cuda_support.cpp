#include "devices/cuda/cuda_support.hpp"

#include <c10/cuda/CUDAStream.h>

#include "core/errors.hpp"

namespace vramguard::cuda {

void check(cudaError_t status, const std::string& what) {
  if (status != cudaSuccess)
    throw JobError(what + " failed: " + cudaGetErrorString(status),
                   "check the driver with nvidia-smi, and CUDA_VISIBLE_DEVICES");
}

cudaStream_t compute_stream(int gpu) {
  return c10::cuda::getCurrentCUDAStream(static_cast<c10::DeviceIndex>(gpu)).stream();
}

DeviceScope::DeviceScope(int gpu) {
  cudaGetDevice(&previous_);
  if (previous_ != gpu) check(cudaSetDevice(gpu), "cudaSetDevice");
}

DeviceScope::~DeviceScope() { cudaSetDevice(previous_); }

std::string bus_id(int gpu) {
  char bus[32] = {};
  if (cudaDeviceGetPCIBusId(bus, sizeof bus, gpu) != cudaSuccess) {
    cudaGetLastError();
    return {};
  }
  return bus;
}

}  // namespace vramguard::cuda
