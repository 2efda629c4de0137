#pragma once
// The CUDA runtime's memory: device blocks from PyTorch's caching allocator, host blocks for streamed
// weights (pinned where the OS allows), and checkpoint pages registered with the driver.
#include <c10/cuda/CUDACachingAllocator.h>
#include <cuda_runtime_api.h>

#include <cstdint>
#include <cstdlib>

#include "devices/device_runtime.hpp"

namespace vramguard::cuda {

// One allocation from PyTorch's caching allocator, on one device.
class CudaBlock final : public MemoryBlock {
 public:
  CudaBlock(int gpu, void* data, std::uint64_t bytes) : gpu_(gpu), data_(data), bytes_(bytes) {}
  ~CudaBlock() override {
    cudaSetDevice(gpu_);
    c10::cuda::CUDACachingAllocator::raw_delete(data_);
  }
  std::uint64_t size() const override { return bytes_; }
  DeviceId device() const override { return DeviceId::gpu(gpu_); }
  void* data() const override { return data_; }
  int gpu() const { return gpu_; }

 private:
  int gpu_;
  void* data_;
  std::uint64_t bytes_;
};

// Host memory for streamed weights: pinned when the OS allows it, pageable otherwise.
class HostBlock final : public MemoryBlock {
 public:
  HostBlock(void* data, std::uint64_t bytes, bool pinned) : data_(data), bytes_(bytes), pinned_(pinned) {}
  ~HostBlock() override {
    if (pinned_) cudaFreeHost(data_);
    else std::free(data_);
  }
  std::uint64_t size() const override { return bytes_; }
  DeviceId device() const override { return DeviceId::host(); }
  bool pinned() const override { return pinned_; }
  void* data() const override { return data_; }

 private:
  void* data_;
  std::uint64_t bytes_;
  bool pinned_;
};

// Pages of the mapped checkpoint registered for direct copies, read-only; unregistered when destroyed.
class CudaRegistration final : public HostRegistration {
 public:
  explicit CudaRegistration(void* begin) : begin_(begin) {}
  ~CudaRegistration() override { cudaHostUnregister(begin_); }

 private:
  void* begin_;
};

}  // namespace vramguard::cuda
