#pragma once
// A model materialized according to a placement: one block per resident unit on its GPU, pinned host
// blocks for streamed units, the checkpoint mapping for units streamed from the page cache, and the
// streaming windows. Everything it holds is released when it is destroyed, in any state.
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "devices/device_runtime.hpp"
#include "load/mapped_file.hpp"
#include "model/model_inspector.hpp"
#include "vramguard/cost_model.hpp"

namespace vramguard {

struct LoadedTensor {
  std::string component;
  std::string name;
  std::string device;  // "cuda:N", "cpu" (host memory) or "disk" (the mapped checkpoint)
  DType dtype = DType::BF16;
  std::vector<std::int64_t> shape;
  const MemoryBlock* block = nullptr;       // null for "disk"
  const unsigned char* mapped = nullptr;    // for "disk": the bytes in the mapping
  std::uint64_t offset = 0;
  std::uint64_t bytes = 0;
  std::string tied_to;                      // shares the storage of this tensor
};

struct LoadStatistics {
  std::uint64_t bytes_to_gpus = 0;       // copied host→device
  std::uint64_t bytes_to_host = 0;       // copied into pinned (or pageable) host memory
  std::uint64_t bytes_left_mapped = 0;   // streamed from the page cache later
  std::uint64_t window_bytes = 0;
  std::uint64_t pageable_bytes = 0;      // host blocks that could not be pinned
  double allocation_seconds = 0;         // of which spent obtaining memory
  double seconds = 0;
};

class Interrupted : public JobError {
 public:
  Interrupted() : JobError("the load was interrupted; everything it had allocated was released") {}
};

class LoadedModel {
 public:
  LoadedModel(DeviceRuntime& runtime) : runtime_(&runtime) {}
  ~LoadedModel();
  LoadedModel(LoadedModel&&) noexcept = default;
  LoadedModel& operator=(LoadedModel&&) noexcept = default;

  const std::vector<LoadedTensor>& tensors() const { return tensors_; }
  const LoadStatistics& statistics() const { return statistics_; }
  // Frees every block now (waiting for copies in flight first).
  void release();

 private:
  friend class Loader;
  DeviceRuntime* runtime_;
  std::vector<std::shared_ptr<MappedFile>> files_;
  std::vector<std::unique_ptr<MemoryBlock>> blocks_;
  std::vector<LoadedTensor> tensors_;
  LoadStatistics statistics_;
};

struct LoadOptions {
  std::optional<DType> target_dtype;
  // Called after each unit with bytes done and bytes in all.
  std::function<void(std::uint64_t, std::uint64_t)> progress;
  const std::atomic<bool>* cancel = nullptr;  // set by a signal handler: stop and release everything
};

// Throws OutOfMemory, Interrupted or InputError; whatever it had allocated is freed first.
LoadedModel load_placement(DeviceRuntime& runtime, const InspectedModel& model, const Placement& placement,
                           const DeviceBudget& budget, const LoadOptions& options);

}  // namespace vramguard
