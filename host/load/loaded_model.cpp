#include "load/loaded_model.hpp"

#include <algorithm>
#include <chrono>
#include <limits>

#include <unistd.h>

#include "core/dtype_conversion.hpp"
#include "logging/log.hpp"
#include "vramguard/byte_size.hpp"

namespace vramguard {
namespace {

constexpr std::size_t kNoOwner = std::numeric_limits<std::size_t>::max();

std::uint64_t round_up(std::uint64_t value, std::uint64_t granularity) {
  return (value + granularity - 1) / granularity * granularity;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

std::vector<StreamPiece> LoadedUnit::stream_pieces() const {
  std::vector<StreamPiece> pieces;
  // A host block holds the unit's own tensors laid out as the slot wants them: one copy.
  const bool from_block = block != nullptr && block->data() != nullptr;
  if (from_block) {
    // Its own tensors, not the allocator's rounding the block was sized with (2 MiB pages).
    std::uint64_t extent = 0;
    for (const auto& tensor : tensors)
      if (tensor.tied_to.empty()) extent = std::max(extent, tensor.offset + tensor.bytes);
    pieces.push_back({0, block->data(), std::min<std::uint64_t>(block->size(), extent), {}});
  }
  for (const auto& tensor : tensors) {
    if (tensor.bytes == 0 || (from_block && tensor.tied_to.empty())) continue;
    if (tensor.host != nullptr) pieces.push_back({tensor.offset, tensor.host, tensor.bytes, tensor.source});
    else pieces.push_back({tensor.offset, nullptr, 0, tensor.source});
  }
  return pieces;
}

LoadedModel::~LoadedModel() { release(); }

const LoadedWindow* LoadedModel::window(DeviceId gpu) const {
  for (const auto& w : windows_)
    if (w.gpu == gpu) return &w;
  return nullptr;
}

void LoadedModel::release() {
  if (runtime_ == nullptr) return;
  if (!blocks_.empty()) {
    try {
      runtime_->synchronize();  // no copy may still be writing into a block we free
    } catch (const std::exception& e) {
      log::warn("while releasing a load: ", e.what());
    }
  }
  units_.clear();
  windows_.clear();
  while (!blocks_.empty()) blocks_.pop_back();  // newest first
  registrations_.clear();
  files_.clear();
  scales_.reset();
}

class Loader {
 public:
  Loader(DeviceRuntime& runtime, const InspectedModel& model, const Placement& placement, const DeviceBudget& budget,
         const PlacementLoadOptions& options)
      : runtime_(runtime), model_(model), placement_(placement), budget_(budget), options_(options), loaded_(runtime) {}

  LoadedModel run() {
    const auto started = std::chrono::steady_clock::now();
    const std::uint64_t mapped_before = runtime_.bytes_uploaded_from_mapping();
    loaded_.statistics_.stream_source = options_.stream_source;
    // Weights quantized at load: their scales first, each weight read once for its largest magnitude.
    loaded_.scales_ =
        std::make_unique<QuantizationScales>(model_, [this](std::size_t c, const std::string& name, DType stored) {
          const TensorLocation at = model_.components[c].locations.at(name);
          CheckpointFile& f = file(c, at.file);
          return UploadSource{f.descriptor(), &f.path(), at.offset, at.bytes * 8 / dtype_bits(stored), stored, stored};
        });
    if (options_.stream_source == StreamSource::registered_mapping) register_streamed_weights();
    std::uint64_t total = 0, done = 0;
    for (const auto& component : model_.graph.components) total += component.bytes();
    for (std::size_t c = 0; c < model_.graph.components.size(); ++c) {
      const Component& component = model_.graph.components[c];
      for (std::size_t u = 0; u < component.units.size(); ++u) {
        if (options_.cancel && options_.cancel->load()) throw Interrupted("the load was interrupted");
        const std::string& unit = component.units[u].name;
        const UnitPlacement* placed = placement_.find(component.name, unit);
        if (placed == nullptr) throw JobError("the plan has no place for unit " + component.name + "/" + unit);
        load_unit(c, u, *placed);
        done += component.units[u].bytes;
        if (options_.progress) options_.progress(done, total);
      }
    }
    allocate_windows();
    resolve_ties();
    runtime_.synchronize();
    loaded_.statistics_.bytes_from_registered_pages = runtime_.bytes_uploaded_from_mapping() - mapped_before;
    loaded_.statistics_.seconds = seconds_since(started);
    return std::move(loaded_);
  }

 private:
  CheckpointFile& file(std::size_t component, std::size_t index) {
    auto& slot = files_[{component, index}];
    if (!slot) {
      const auto& inspected = model_.components[component];
      slot = std::make_shared<CheckpointFile>(inspected.source.weight_files[index].string(),
                                              inspected.headers[index].identity);
      loaded_.files_.push_back(slot);
    }
    return *slot;
  }

  UploadSource source_of(std::size_t component, const TensorInfo& tensor) {
    const DType placed = placed_dtype(tensor.dtype, options_.target_dtype);
    if (auto scale = loaded_.scales_->scale_source(component, tensor.name, placed)) return *scale;
    const TensorLocation at = location_of(model_.components[component], tensor);
    CheckpointFile& f = file(component, at.file);
    UploadSource source{f.descriptor(), &f.path(), at.offset, tensor.elements, tensor.dtype, placed};
    loaded_.scales_->quantize(component, tensor.name, source);
    if (options_.upload_path != UploadPath::staged && source.from == source.to && !source.quantize_scales) {
      source.mapping = f.mapping();
      source.every_reader_maps = options_.upload_path == UploadPath::registered;
    }
    return source;
  }

  bool streamed_from_host(const UnitPlacement& placed) const {
    return placed.mode == PlacementMode::streamed && placed.storage == DeviceId::host();
  }

  // The registered mapping: the page-aligned ranges of every file that hold weights streamed from the
  // host, merged, registered once each. Refused, every such unit is copied into pinned memory instead.
  void register_streamed_weights() {
    std::map<std::pair<std::size_t, std::size_t>, std::vector<std::pair<std::uint64_t, std::uint64_t>>> ranges;
    for (std::size_t c = 0; c < model_.graph.components.size(); ++c) {
      const Component& component = model_.graph.components[c];
      for (const auto& unit : component.units) {
        const UnitPlacement* placed = placement_.find(component.name, unit.name);
        if (placed == nullptr || !streamed_from_host(*placed)) continue;
        for (const auto& tensor : unit.tensors) {
          if (!tensor.tied_to.empty() || tensor.bytes == 0) continue;
          const auto& inspected = model_.components[c];
          if (inspected.quantized.count(tensor.name) || inspected.quantized_scales.count(tensor.name))
            throw UsageError("streaming from the registered checkpoint copies its bytes as they are, and " +
                                 tensor.name + " is quantized as it loads",
                             "use --stream-from pinned or page-cache, or load without --weight-dtype");
          if (placed_dtype(tensor.dtype, options_.target_dtype) != tensor.dtype)
            throw UsageError("streaming from the registered checkpoint copies its bytes as they are, and tensor " +
                                 tensor.name + " needs converting to " +
                                 std::string(dtype_name(*options_.target_dtype)),
                             "use --stream-from pinned or page-cache, or load without --dtype");
          const TensorLocation at = location_of(model_.components[c], tensor);
          ranges[{c, at.file}].emplace_back(at.offset, at.offset + at.bytes);
        }
      }
    }
    const auto started = std::chrono::steady_clock::now();
    const std::uint64_t page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
    try {
      for (auto& [key, spans] : ranges) {
        CheckpointFile& f = file(key.first, key.second);
        const unsigned char* base = f.mapping();
        std::sort(spans.begin(), spans.end());
        std::vector<std::pair<std::uint64_t, std::uint64_t>> merged;
        for (auto [begin, end] : spans) {
          begin = begin / page * page;
          end = std::min(round_up(end, page), round_up(f.size(), page));
          if (!merged.empty() && begin <= merged.back().second)
            merged.back().second = std::max(merged.back().second, end);
          else merged.emplace_back(begin, end);
        }
        for (const auto& [begin, end] : merged) {
          loaded_.registrations_.push_back(runtime_.register_host(base + begin, end - begin));
          loaded_.statistics_.bytes_registered += end - begin;
        }
        mappings_[key] = base;
      }
    } catch (const RegistrationRefused& e) {
      log::warn(e.what(), "; copying streamed weights into pinned memory instead");
      loaded_.registrations_.clear();
      mappings_.clear();
      loaded_.statistics_.bytes_registered = 0;
      loaded_.statistics_.stream_source = StreamSource::pinned_copy;
      loaded_.statistics_.stream_source_note = e.what();
    }
    loaded_.statistics_.registration_seconds = seconds_since(started);
  }

  void load_unit(std::size_t c, std::size_t u, const UnitPlacement& placed) {
    const Component& component = model_.graph.components[c];
    const Unit& unit = component.units[u];
    LoadedUnit loaded{c, u, placed, window_slot_bytes(unit), nullptr, {}, {}};
    // Own tensors first, each 512-byte aligned as the cost model counts them; tied ones after.
    const auto alignment = default_cost_constants().tensor_alignment_bytes;
    std::uint64_t offset = 0;
    for (const bool tied : {false, true}) {
      for (const auto& tensor : unit.tensors) {
        if (tensor.tied_to.empty() == tied) continue;
        LoadedTensor t{
            tensor.name,    placed_dtype(tensor.dtype, options_.target_dtype), tensor.shape, offset, tensor.bytes,
            tensor.tied_to, tied ? UploadSource{} : source_of(c, tensor),      nullptr};
        offset += round_up(tensor.bytes, alignment);
        loaded.tensors.push_back(std::move(t));
      }
    }

    const bool on_gpu = placed.mode == PlacementMode::resident;
    const bool in_pinned_block =
        placed.mode == PlacementMode::cpu ||
        (streamed_from_host(placed) && loaded_.statistics_.stream_source == StreamSource::pinned_copy);
    const std::uint64_t bytes = allocated_bytes(unit);
    if ((on_gpu || in_pinned_block) && bytes > 0) {
      const DeviceInfo* storage = budget_.find(placed.storage);
      if (storage == nullptr)
        throw JobError("the plan stores " + unit.name + " on " + placed.storage.str() + ", which is not in the budget");
      const auto asked = std::chrono::steady_clock::now();
      std::unique_ptr<MemoryBlock> block =
          on_gpu ? runtime_.allocate_device(storage->id.index, bytes) : runtime_.allocate_pinned(bytes);
      loaded_.statistics_.allocation_seconds += seconds_since(asked);
      loaded.block = block.get();
      loaded_.blocks_.push_back(std::move(block));
      if (!loaded.block->pinned()) loaded_.statistics_.pageable_bytes += bytes;
      for (const auto& tensor : loaded.tensors) {
        if (!tensor.tied_to.empty() || tensor.bytes == 0) continue;
        if (on_gpu) runtime_.upload(*loaded.block, tensor.offset, tensor.source);
        else runtime_.stage(*loaded.block, tensor.offset, tensor.source);
        (on_gpu ? loaded_.statistics_.bytes_to_gpus : loaded_.statistics_.bytes_to_host) += tensor.bytes;
      }
    } else if (placed.mode == PlacementMode::streamed) {
      for (auto& tensor : loaded.tensors) {
        if (!tensor.tied_to.empty()) continue;
        const auto info = std::find_if(unit.tensors.begin(), unit.tensors.end(),
                                       [&](const TensorInfo& t) { return t.name == tensor.name; });
        const TensorLocation at = location_of(model_.components[c], *info);
        if (const auto it = mappings_.find({c, at.file}); it != mappings_.end() && streamed_from_host(placed)) {
          tensor.host = it->second + at.offset;
          continue;
        }
        loaded_.statistics_.bytes_left_mapped += tensor.bytes;
      }
    }
    loaded_.units_.push_back(std::move(loaded));
  }

  // The rotating slots streamed units are copied into at run time, allocated now so that the load's
  // peak is the run's peak (activations aside) and an out-of-memory shows here, not mid-run.
  void allocate_windows() {
    std::map<DeviceId, std::uint64_t> largest;
    for (const auto& unit : loaded_.units_)
      if (unit.placement.mode == PlacementMode::streamed)
        largest[unit.placement.executes_on] = std::max(largest[unit.placement.executes_on], unit.layout_bytes);
    for (const auto& [device, slot] : largest) {
      const DeviceInfo* gpu = budget_.find(device);
      if (gpu == nullptr) throw JobError("the plan streams units to " + device.str() + ", which is not in the budget");
      LoadedWindow window{device, slot, {}};
      for (int i = 0; i <= std::max(0, placement_.prefetch_depth); ++i) {
        loaded_.blocks_.push_back(runtime_.allocate_device(gpu->id.index, slot));
        window.slots.push_back(loaded_.blocks_.back().get());
        loaded_.statistics_.window_bytes += slot;
      }
      loaded_.windows_.push_back(std::move(window));
    }
  }

  // A tied tensor reads its owner's weights: from the owner's block where both are resident, or,
  // streamed, from wherever the owner's bytes are on the host.
  void resolve_ties() {
    std::map<std::pair<std::size_t, std::string>, std::pair<std::size_t, std::size_t>> owners;
    for (std::size_t k = 0; k < loaded_.units_.size(); ++k)
      for (std::size_t t = 0; t < loaded_.units_[k].tensors.size(); ++t)
        if (loaded_.units_[k].tensors[t].tied_to.empty())
          owners[{loaded_.units_[k].component, loaded_.units_[k].tensors[t].name}] = {k, t};
    for (auto& unit : loaded_.units_) {
      unit.tie_owners.assign(unit.tensors.size(), {kNoOwner, kNoOwner});
      for (std::size_t t = 0; t < unit.tensors.size(); ++t) {
        LoadedTensor& tensor = unit.tensors[t];
        if (tensor.tied_to.empty()) continue;
        const auto it = owners.find({unit.component, tensor.tied_to});
        if (it == owners.end())
          throw JobError("tensor " + tensor.name + " is tied to " + tensor.tied_to + ", which was not loaded");
        unit.tie_owners[t] = it->second;
        const LoadedUnit& owner_unit = loaded_.units_[it->second.first];
        const LoadedTensor& owner = owner_unit.tensors[it->second.second];
        tensor.source = owner.source;
        tensor.dtype = owner.dtype;
        tensor.bytes = owner.bytes;
        if (owner.host != nullptr) tensor.host = owner.host;
        else if (owner_unit.block != nullptr && !owner_unit.block->device().is_gpu() &&
                 owner_unit.block->data() != nullptr)
          tensor.host = static_cast<const unsigned char*>(owner_unit.block->data()) + owner.offset;
      }
    }
  }

  DeviceRuntime& runtime_;
  const InspectedModel& model_;
  const Placement& placement_;
  const DeviceBudget& budget_;
  const PlacementLoadOptions& options_;
  LoadedModel loaded_;
  std::map<std::pair<std::size_t, std::size_t>, std::shared_ptr<CheckpointFile>> files_;
  std::map<std::pair<std::size_t, std::size_t>, const unsigned char*> mappings_;  // registered files
};

LoadedModel load_placement(DeviceRuntime& runtime, const InspectedModel& model, const Placement& placement,
                           const DeviceBudget& budget, const PlacementLoadOptions& options) {
  if (options.target_dtype && !dtype_is_convertible(*options.target_dtype))
    throw UsageError("cannot load into " + std::string(dtype_name(*options.target_dtype)),
                     "choose a --dtype among bf16, fp16, fp32 and fp64, or none to keep each tensor's own");
  return Loader(runtime, model, placement, budget, options).run();
}

}  // namespace vramguard
