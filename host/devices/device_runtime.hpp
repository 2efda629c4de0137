#pragma once
// Where GPU memory comes from. The CUDA runtime talks to real devices; the simulated runtime declares
// GPUs (a preset or a spec), keeps exact accounting against their capacities, and can inject
// out-of-memory errors, so the whole memory-guard pipeline runs on machines without a GPU.
#include <memory>
#include <string>
#include <vector>

#include "devices/device_memory.hpp"
#include "vramguard/device_budget.hpp"

namespace vramguard {

class DeviceRuntime {
 public:
  virtual ~DeviceRuntime() = default;
  virtual std::string name() const = 0;  // "cuda", "simulated"
  // The GPUs, with total and free bytes measured now (free after the CUDA context exists), the
  // context's size, and host→device bandwidth (measured once and cached, or declared).
  virtual std::vector<DeviceInfo> probe_gpus() = 0;

  // Readies whatever copying needs (staging buffers, streams, threads), so that a timed load does not
  // pay for it; planning never calls it.
  virtual void prepare_transfers() {}
  // Throws OutOfMemory when the block does not fit.
  virtual std::unique_ptr<MemoryBlock> allocate_device(int gpu, std::uint64_t bytes) = 0;
  // Pinned host memory; throws OutOfMemory when it cannot be pinned.
  virtual std::unique_ptr<MemoryBlock> allocate_pinned(std::uint64_t bytes) = 0;
  // Converts and copies one tensor into a device block at `offset`; may return before the copy ends.
  virtual void upload(MemoryBlock& destination, std::uint64_t offset, const UploadSource& source) = 0;
  // Copies into host memory (a pinned block) at `offset`, converting; synchronous.
  virtual void stage(MemoryBlock& destination, std::uint64_t offset, const UploadSource& source) = 0;
  // Waits for every upload issued so far; rethrows a copy's failure.
  virtual void synchronize() = 0;
  // Reads `bytes` at `offset` of a block back into `out` (for --verify-data).
  virtual void read_back(const MemoryBlock& block, std::uint64_t offset, std::uint64_t bytes, unsigned char* out) = 0;
  // Returns cached, unused memory to the device (the caching allocator's empty_cache).
  virtual void release_cached() = 0;
  virtual MemorySnapshot snapshot(int gpu) = 0;
  // The allocator settings in effect (e.g. "expandable_segments:True"), for the report.
  virtual std::string allocator_settings() const = 0;
  // Other processes holding memory on the GPU (best effort: empty where NVML is missing).
  virtual std::vector<GpuProcess> other_processes(int gpu) = 0;
};

// The CUDA runtime, where this build has one (nullptr otherwise). Throws JobError when the driver
// or the devices cannot be used.
std::unique_ptr<DeviceRuntime> make_cuda_runtime();
bool cuda_runtime_compiled();

}  // namespace vramguard
