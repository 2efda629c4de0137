#pragma once
// What every part of the CUDA runtime uses: CUDA's status turned into vramguard's errors, PyTorch's
// compute stream, a scope that makes one GPU current, the GPU's PCI bus id (NVML's key).
#include <cuda_runtime_api.h>

#include <string>

namespace vramguard::cuda {

// JobError naming `what` and CUDA's reason where `status` is an error.
void check(cudaError_t status, const std::string& what);

// PyTorch's current stream on `gpu`: where model code computes.
cudaStream_t compute_stream(int gpu);

// Makes `gpu` the calling thread's current device for a scope (events belong to the device current
// when they are made and recorded), then restores the one PyTorch's code had set.
class DeviceScope {
 public:
  explicit DeviceScope(int gpu);
  ~DeviceScope();
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;

 private:
  int previous_ = 0;
};

// "0000:3B:00.0"; empty where CUDA cannot tell.
std::string bus_id(int gpu);

}  // namespace vramguard::cuda
