#pragma once
// Copies from the checkpoint to the GPUs at load, reading and the PCIe transfer overlapped
// (cuda_uploader.cpp says how).
#include <cstdint>
#include <memory>

#include "devices/device_runtime.hpp"

namespace vramguard::cuda {

class Uploader {
 public:
  virtual ~Uploader() = default;
  // Queues the copy of `source` to `destination` on `gpu`; gpu < 0: `destination` is host memory,
  // filled directly (no staging, no copy engine).
  virtual void upload(int gpu, unsigned char* destination, const UploadSource& source) = 0;
  // Waits for every queued copy; rethrows the first error one met.
  virtual void synchronize() = 0;
  // Bytes copied straight from registered checkpoint pages so far.
  virtual std::uint64_t bytes_from_mapping() const = 0;
};

// Readers, staging buffers and copy streams for `gpus` GPUs.
std::unique_ptr<Uploader> make_uploader(int gpus);

}  // namespace vramguard::cuda
