#pragma once
// Device memory as the guard sees it: buffers with exact sizes, snapshots of who holds what, and an
// out-of-memory error that says where and how much. Both runtimes (CUDA, simulated) implement it.
#include <cstdint>
#include <memory>
#include <string>

#include "core/errors.hpp"
#include "vramguard/dtype.hpp"

namespace vramguard {

// Raised by any allocation that does not fit: a device's memory, pinned host memory, or an injected
// fault. The guard catches it anywhere in the pipeline.
class OutOfMemory : public JobError {
 public:
  OutOfMemory(std::string device, std::uint64_t requested, std::uint64_t free, const std::string& detail = {});
  const std::string& device() const noexcept { return device_; }
  std::uint64_t requested() const noexcept { return requested_; }
  std::uint64_t free_bytes() const noexcept { return free_; }

 private:
  std::string device_;
  std::uint64_t requested_;
  std::uint64_t free_;
};

struct MemorySnapshot {
  std::string device;
  std::uint64_t total = 0;
  std::uint64_t free = 0;
  std::uint64_t ours_in_use = 0;   // bytes in live allocations of this process
  std::uint64_t ours_cached = 0;   // held by the allocator's cache, not in use
  std::uint64_t others = 0;        // held by other processes (total − free − ours − context), best effort
  std::uint64_t process_total = 0; // everything this process holds there, context included, as nvidia-smi
                                   // shows it (NVML; 0 where it cannot be read)
};

// Another process holding memory on a GPU (from NVML, or simulated).
struct GpuProcess {
  std::uint32_t pid = 0;
  std::string name;
  std::string user;
  std::uint64_t bytes = 0;
};

// A block of memory on a GPU or pinned on the host. Freed when destroyed.
class MemoryBlock {
 public:
  virtual ~MemoryBlock() = default;
  virtual std::uint64_t size() const = 0;
  virtual const std::string& device() const = 0;  // "cuda:0", or "cpu" for pinned/pageable host memory
  virtual bool pinned() const { return true; }
};

// One tensor's bytes on the way to a device: where they are mapped, and the conversion to apply.
struct UploadSource {
  const unsigned char* data = nullptr;  // in the mapped checkpoint
  std::uint64_t elements = 0;
  DType from = DType::BF16;
  DType to = DType::BF16;
  int file = -1;                        // the checkpoint's descriptor, where the bytes can be read with pread
  std::uint64_t file_offset = 0;        // of data, in that file
};

}  // namespace vramguard
