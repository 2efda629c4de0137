#pragma once
// Device memory as the guard sees it: buffers with exact sizes, snapshots of who holds what, and an
// out-of-memory error that says where and how much. Both runtimes (CUDA, simulated) implement it.
#include <cstdint>
#include <optional>
#include <memory>
#include <string>

#include "core/errors.hpp"
#include "core/tensor_read.hpp"
#include "vramguard/device_id.hpp"

namespace vramguard {

// Raised by any allocation that does not fit: a device's memory, pinned host memory, or an injected
// fault. The guard catches it anywhere in the pipeline, a step of a run included.
class OutOfMemory : public MemoryError {
 public:
  OutOfMemory(DeviceId device, std::uint64_t requested, std::uint64_t free, const std::string& detail = {});
  DeviceId device() const noexcept { return device_; }
  std::uint64_t requested() const noexcept { return requested_; }
  std::uint64_t free_bytes() const noexcept { return free_; }

 private:
  DeviceId device_;
  std::uint64_t requested_;
  std::uint64_t free_;
};

struct MemorySnapshot {
  DeviceId device;
  std::uint64_t total = 0;
  std::uint64_t free = 0;
  std::uint64_t ours_in_use = 0;    // bytes in live allocations of this process
  std::uint64_t ours_cached = 0;    // held by the allocator's cache, not in use
  std::uint64_t peak_in_use = 0;    // the most ours_in_use reached since reset_peak (activations included)
  std::uint64_t others = 0;         // held by other processes (total − free − ours − context), best effort
  std::uint64_t process_total = 0;  // everything this process holds there, context included, as nvidia-smi
                                    // shows it (NVML; 0 where it cannot be read)
  std::uint64_t process_peak = 0;   // the most process_total reached since reset_peak, sampled every 20 ms
                                    // (0 where NVML cannot tell)
  std::uint64_t reserved_peak = 0;  // the most the allocator held (in use and cached) since reset_peak
  // How often the allocator, short of memory under its limit, emptied its cache and tried again, since the
  // process began. Each time waits for every stream: the copies overlapping compute stop.
  std::uint64_t allocator_retries = 0;
  std::uint64_t process_limit = 0;  // the limit_process in force (0: none)
};

// Another process holding memory on a GPU (from NVML, or simulated).
struct GpuProcess {
  std::uint32_t pid = 0;
  std::string name;
  std::string user;
  std::uint64_t bytes = 0;
  std::optional<std::uint32_t> uid;  // unknown when the process could not be read
  std::string command;               // its command line, where readable
};

// A block of memory on a GPU or on the host. Freed when destroyed.
class MemoryBlock {
 public:
  virtual ~MemoryBlock() = default;
  virtual std::uint64_t size() const = 0;
  virtual DeviceId device() const = 0;  // a GPU, or cpu for host memory
  virtual bool pinned() const { return true; }
  // Where the bytes are (a device pointer for a GPU block); null for a simulated block that keeps no data.
  virtual void* data() const = 0;
};

}  // namespace vramguard
