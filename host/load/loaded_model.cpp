#include "load/loaded_model.hpp"

#include <algorithm>
#include <chrono>

#include "load/dtype_conversion.hpp"
#include "logging/log.hpp"
#include "vramguard/byte_size.hpp"

namespace vramguard {

LoadedModel::~LoadedModel() { release(); }

void LoadedModel::release() {
  if (runtime_ == nullptr) return;
  if (!blocks_.empty()) {
    try {
      runtime_->synchronize();  // no copy may still be writing into a block we free
    } catch (const std::exception& e) {
      log::warn("while releasing a load: ", e.what());
    }
  }
  tensors_.clear();
  while (!blocks_.empty()) blocks_.pop_back();  // newest first
  files_.clear();
}

class Loader {
 public:
  Loader(DeviceRuntime& runtime, const InspectedModel& model, const Placement& placement, const DeviceBudget& budget,
         const LoadOptions& options)
      : runtime_(runtime), model_(model), placement_(placement), budget_(budget), options_(options), loaded_(runtime) {}

  LoadedModel run() {
    const auto started = std::chrono::steady_clock::now();
    std::uint64_t total = 0, done = 0;
    for (const auto& component : model_.graph.components) total += component.bytes();
    for (std::size_t c = 0; c < model_.graph.components.size(); ++c) {
      const Component& component = model_.graph.components[c];
      for (const auto& unit : component.units) {
        if (options_.cancel && options_.cancel->load()) throw Interrupted();
        const UnitPlacement* placed = placement_.find(component.name, unit.name);
        if (placed == nullptr) throw JobError("the plan has no place for unit " + component.name + "/" + unit.name);
        load_unit(c, unit, *placed);
        done += unit.bytes;
        if (options_.progress) options_.progress(done, total);
      }
    }
    allocate_windows();
    resolve_ties();
    runtime_.synchronize();
    loaded_.statistics_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    return std::move(loaded_);
  }

 private:
  const MappedFile& file(std::size_t component, std::size_t index) {
    auto& slot = mapped_[{component, index}];
    if (!slot) {
      slot = std::make_shared<MappedFile>(model_.components[component].source.weight_files[index].string());
      loaded_.files_.push_back(slot);
    }
    return *slot;
  }

  DType target_of(const TensorInfo& tensor) const {
    return options_.target_dtype && dtype_is_floating(tensor.dtype) ? *options_.target_dtype : tensor.dtype;
  }

  UploadSource source_of(std::size_t component, const TensorInfo& tensor) {
    const TensorLocation& at = model_.components[component].locations.at(tensor.name);
    const MappedFile& mapped = file(component, at.file);
    if (at.offset + at.bytes > mapped.size())
      throw InputError(mapped.path(), "tensor '" + tensor.name + "' lies past the end of the file (it changed since it was read?)");
    return {mapped.data() + at.offset, tensor.elements, tensor.dtype, target_of(tensor), mapped.descriptor(), at.offset};
  }

  void load_unit(std::size_t c, const Unit& unit, const UnitPlacement& placed) {
    const std::string& component = model_.graph.components[c].name;
    if (placed.storage == "disk") {  // stays in the page cache; streamed at run time
      for (const auto& tensor : unit.tensors) {
        if (!tensor.tied_to.empty()) {
          tensors_tied(component, tensor);
          continue;
        }
        const UploadSource source = source_of(c, tensor);
        loaded_.tensors_.push_back({component, tensor.name, "disk", tensor.dtype, tensor.shape, nullptr, source.data, 0,
                                    tensor.stored_bytes, {}});
        loaded_.statistics_.bytes_left_mapped += tensor.stored_bytes;
      }
      return;
    }
    const DeviceInfo* storage = budget_.find(placed.storage);
    if (storage == nullptr) throw JobError("the plan stores " + unit.name + " on " + placed.storage + ", which is not in the budget");
    const bool on_gpu = storage->kind == DeviceKind::cuda;
    const std::uint64_t bytes = allocated_bytes(unit);
    if (bytes == 0) {  // only tied or empty tensors: nothing to allocate
      for (const auto& tensor : unit.tensors) {
        if (!tensor.tied_to.empty()) tensors_tied(component, tensor);
        else loaded_.tensors_.push_back({component, tensor.name, placed.storage, target_of(tensor), tensor.shape, nullptr, nullptr, 0, 0, {}});
      }
      return;
    }
    const auto asked = std::chrono::steady_clock::now();
    std::unique_ptr<MemoryBlock> block = on_gpu ? runtime_.allocate_device(storage->index, bytes) : runtime_.allocate_pinned(bytes);
    loaded_.statistics_.allocation_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - asked).count();
    MemoryBlock& target = *block;
    loaded_.blocks_.push_back(std::move(block));
    if (!target.pinned()) loaded_.statistics_.pageable_bytes += bytes;
    std::uint64_t offset = 0;
    const auto alignment = default_cost_constants().tensor_alignment;
    for (const auto& tensor : unit.tensors) {
      if (!tensor.tied_to.empty()) {
        tensors_tied(component, tensor);
        continue;
      }
      const UploadSource source = source_of(c, tensor);
      if (on_gpu) runtime_.upload(target, offset, source);
      else runtime_.stage(target, offset, source);
      loaded_.tensors_.push_back({component, tensor.name, placed.storage, source.to, tensor.shape, &target, nullptr, offset, tensor.bytes, {}});
      (on_gpu ? loaded_.statistics_.bytes_to_gpus : loaded_.statistics_.bytes_to_host) += tensor.bytes;
      offset += (tensor.bytes + alignment - 1) / alignment * alignment;
    }
  }

  void tensors_tied(const std::string& component, const TensorInfo& tensor) {
    loaded_.tensors_.push_back({component, tensor.name, "", tensor.dtype, tensor.shape, nullptr, nullptr, 0, 0, tensor.tied_to});
  }

  // The rotating slots streamed units are copied into at run time, allocated now so that the load's
  // peak is the run's peak (activations aside) and an out-of-memory shows here, not mid-run.
  void allocate_windows() {
    std::map<std::string, std::uint64_t> largest;
    for (const auto& component : model_.graph.components)
      for (const auto& unit : component.units)
        if (const auto* p = placement_.find(component.name, unit.name); p && p->mode == PlacementMode::streamed)
          largest[p->executes_on] = std::max(largest[p->executes_on], allocated_bytes(unit));
    for (const auto& [device, slot] : largest) {
      const DeviceInfo* gpu = budget_.find(device);
      for (int i = 0; i <= std::max(0, placement_.prefetch_depth()); ++i) {
        loaded_.blocks_.push_back(runtime_.allocate_device(gpu->index, slot));
        loaded_.statistics_.window_bytes += slot;
      }
    }
  }

  void resolve_ties() {
    std::map<std::pair<std::string, std::string>, const LoadedTensor*> by_name;
    for (const auto& t : loaded_.tensors_)
      if (t.tied_to.empty()) by_name[{t.component, t.name}] = &t;
    for (auto& t : loaded_.tensors_) {
      if (t.tied_to.empty()) continue;
      const auto it = by_name.find({t.component, t.tied_to});
      if (it == by_name.end()) throw JobError("tensor " + t.name + " is tied to " + t.tied_to + ", which was not loaded");
      const LoadedTensor& owner = *it->second;
      t.device = owner.device;
      t.dtype = owner.dtype;
      t.block = owner.block;
      t.mapped = owner.mapped;
      t.offset = owner.offset;
      t.bytes = owner.bytes;
    }
  }

  DeviceRuntime& runtime_;
  const InspectedModel& model_;
  const Placement& placement_;
  const DeviceBudget& budget_;
  const LoadOptions& options_;
  LoadedModel loaded_;
  std::map<std::pair<std::size_t, std::size_t>, std::shared_ptr<MappedFile>> mapped_;
};

LoadedModel load_placement(DeviceRuntime& runtime, const InspectedModel& model, const Placement& placement,
                           const DeviceBudget& budget, const LoadOptions& options) {
  for (const auto& component : model.graph.components)
    for (const auto& unit : component.units)
      for (const auto& tensor : unit.tensors) {
        const DType to = options.target_dtype && dtype_is_floating(tensor.dtype) ? *options.target_dtype : tensor.dtype;
        if (!conversion_supported(tensor.dtype, to))
          throw UsageError("cannot convert tensor " + tensor.name + " from " + std::string(dtype_name(tensor.dtype)) + " to " +
                           std::string(dtype_name(to)), "choose a --dtype among bf16, fp16, fp32, fp64, or none");
      }
  return Loader(runtime, model, placement, budget, options).run();
}

}  // namespace vramguard
