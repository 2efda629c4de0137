#pragma once
// A model materialized according to a placement: one block per resident unit on its GPU, host blocks
// (or the registered checkpoint) for units streamed from the host, the checkpoint file for units
// streamed from the page cache, and each executing GPU's window of slots. Everything it holds is
// released when it is destroyed, in any state.
#include <cstdint>
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "devices/device_runtime.hpp"
#include "load/checkpoint_file.hpp"
#include "load/quantization_scales.hpp"
#include "model/model_inspector.hpp"
#include "vramguard/cost_model.hpp"

namespace vramguard {

struct LoadedTensor {
  std::string name;
  DType dtype = DType::BF16;  // as placed
  std::vector<std::int64_t> shape;
  std::uint64_t offset = 0;  // in the unit's layout: its block, or the window slot it runs from
  std::uint64_t bytes = 0;
  std::string tied_to;                  // shares the weights of this tensor of the same component
  UploadSource source;                  // where its bytes are in the checkpoint
  const unsigned char* host = nullptr;  // its bytes in host memory the GPU reads directly, where streamed so
};

struct LoadedUnit {
  std::size_t component = 0;  // indices into the model graph
  std::size_t unit = 0;
  UnitPlacement placement;
  std::uint64_t layout_bytes = 0;  // a streamed unit's slot layout, tied tensors included
  MemoryBlock* block = nullptr;    // resident: its GPU block; streamed from pinned memory or cpu mode: its host block
  std::vector<LoadedTensor> tensors;  // own tensors first, then tied ones (laid out after, when streamed)
  // A tied tensor's owner: the unit (flat index) and the tensor in it.
  std::vector<std::pair<std::size_t, std::size_t>> tie_owners;  // parallel to tensors; {npos, npos} when not tied
  // What fills a window slot with this streamed unit.
  std::vector<StreamPiece> stream_pieces() const;
};

struct LoadedWindow {
  DeviceId gpu;
  std::uint64_t slot_bytes = 0;
  std::vector<MemoryBlock*> slots;  // prefetch_depth + 1
};

struct LoadStatistics {
  std::uint64_t bytes_to_gpus = 0;      // copied host→device
  std::uint64_t bytes_to_host = 0;      // copied into pinned (or pageable) host memory
  std::uint64_t bytes_registered = 0;   // checkpoint pages registered for direct copies instead
  std::uint64_t bytes_left_mapped = 0;  // streamed from the page cache at run time
  std::uint64_t window_bytes = 0;
  std::uint64_t pageable_bytes = 0;                        // host blocks that could not be pinned
  StreamSource stream_source = StreamSource::pinned_copy;  // how weights streamed from cpu reach the GPU
  std::string stream_source_note;                 // set when the plan's choice could not be kept (registration refused)
  std::uint64_t bytes_from_registered_pages = 0;  // of bytes_to_gpus, copied straight from registered checkpoint pages
  double allocation_seconds = 0;                  // of which spent obtaining memory
  double registration_seconds = 0;                // of which spent registering the checkpoint
  double seconds = 0;
};

class LoadedModel {
 public:
  explicit LoadedModel(DeviceRuntime& runtime) : runtime_(&runtime) {}
  ~LoadedModel();
  LoadedModel(LoadedModel&&) noexcept = default;
  LoadedModel& operator=(LoadedModel&&) noexcept = default;

  const std::vector<LoadedUnit>& units() const { return units_; }  // graph order
  const std::vector<LoadedWindow>& windows() const { return windows_; }
  const LoadedWindow* window(DeviceId gpu) const;
  const std::vector<std::unique_ptr<MemoryBlock>>& blocks() const { return blocks_; }
  const LoadStatistics& statistics() const { return statistics_; }
  DeviceRuntime& runtime() const { return *runtime_; }
  // Frees every block now (waiting for copies in flight first).
  void release();

 private:
  friend class Loader;
  DeviceRuntime* runtime_;
  std::vector<std::shared_ptr<CheckpointFile>> files_;
  std::unique_ptr<QuantizationScales> scales_;  // read again with every streamed quantized weight
  std::vector<std::unique_ptr<HostRegistration>> registrations_;
  std::vector<std::unique_ptr<MemoryBlock>> blocks_;
  std::vector<LoadedUnit> units_;
  std::vector<LoadedWindow> windows_;
  LoadStatistics statistics_;
};

enum class UploadPath : std::uint8_t { staged, registered, mixed };

struct PlacementLoadOptions {
  std::optional<DType> target_dtype;
  StreamSource stream_source = StreamSource::pinned_copy;  // the plan's choice, from the cost model
  // Resident weights: staged through pinned buffers by reader threads, copied straight from registered
  // checkpoint pages (no staging copy; the runtime stages where the driver refuses), or both at once.
  UploadPath upload_path = UploadPath::staged;
  // Called after each unit with bytes done and bytes in all.
  std::function<void(std::uint64_t, std::uint64_t)> progress;
  const std::atomic<bool>* cancel = nullptr;  // set by a signal handler: stop and release everything
};

// Throws OutOfMemory, Interrupted or InputError; whatever it had allocated is freed first.
LoadedModel load_placement(DeviceRuntime& runtime, const InspectedModel& model, const Placement& placement,
                           const DeviceBudget& budget, const PlacementLoadOptions& options);

}  // namespace vramguard
