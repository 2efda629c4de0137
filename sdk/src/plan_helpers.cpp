#include "vramguard/plan_helpers.hpp"

#include <algorithm>
#include <map>
#include <stdexcept>

namespace vramguard {

PlanContext::PlanContext(const PlanRequest& request) : request_(request) {
  std::map<std::string, std::size_t> group_item;
  for (const auto& component : request.model.components) {
    for (const auto& unit : component.units) {
      const std::size_t index = units_.size();
      units_.push_back({&component, &unit});
      std::size_t item_index;
      if (!unit.tie_group.empty()) {
        const std::string key = component.name + "/" + unit.tie_group;
        const auto [it, inserted] = group_item.emplace(key, items_.size());
        if (inserted) items_.emplace_back();
        item_index = it->second;
      } else {
        item_index = items_.size();
        items_.emplace_back();
      }
      PlanItem& item = items_[item_index];
      const std::uint64_t allocated = allocated_bytes(unit);
      item.units.push_back(index);
      item.bytes += unit.bytes;
      item.allocated_bytes += allocated;
      item.largest_slot_bytes = std::max(item.largest_slot_bytes, window_slot_bytes(unit));
    }
  }
  decisions_.resize(units_.size());
  decided_.assign(units_.size(), false);
}

double PlanContext::pass_gpu_seconds(const PlanItem& item, const DeviceInfo& gpu) const {
  double seconds = 0;
  for (std::size_t index : item.units) {
    const UnitRef& ref = units_[index];
    seconds += unit_pass_gpu_seconds(*ref.unit, sequence_tokens_for(*ref.component, request_.workload),
                                     request_.workload, &gpu);
  }
  return seconds;
}

std::uint64_t PlanContext::passes(const PlanItem& item) const {
  std::uint64_t passes = 0;
  for (std::size_t index : item.units)
    passes = std::max(passes, request_.workload.passes(units_[index].component->name));
  return passes;
}

void PlanContext::place(const PlanItem& item, DeviceId storage, PlacementMode mode, DeviceId executes_on) {
  for (std::size_t index : item.units) {
    decisions_[index] = {units_[index].component->name, units_[index].unit->name, storage, mode, executes_on};
    decided_[index] = true;
  }
}

bool PlanContext::placed(const PlanItem& item) const {
  return std::all_of(item.units.begin(), item.units.end(), [&](std::size_t i) { return decided_[i]; });
}

Placement PlanContext::finish(const std::string& strategy, int prefetch_depth, std::string explanation,
                              std::map<std::string, std::string> settings) const {
  Placement placement;
  placement.strategy = strategy;
  for (std::size_t i = 0; i < units_.size(); ++i) {
    if (!decided_[i])
      throw std::logic_error("strategy " + strategy + " left unit " + units_[i].component->name + "/" +
                             units_[i].unit->name + " unplaced");
    placement.units.push_back(decisions_[i]);
  }
  placement.prefetch_depth = prefetch_depth;
  placement.settings = std::move(settings);
  placement.explanation = std::move(explanation);
  return placement;
}

std::uint64_t PlanContext::host_streaming_capacity() const {
  const DeviceInfo* cpu = request_.budget.cpu();
  if (cpu == nullptr) return 0;
  return std::min(cpu->usable_bytes, request_.budget.pinned_cap_bytes);
}

bool PlanContext::has_disk() const { return request_.budget.disk() != nullptr; }

HostStorage::HostStorage(const PlanContext& context)
    : cpu_left_(context.host_streaming_capacity()), disk_(context.has_disk()) {}

std::optional<DeviceId> HostStorage::take(std::uint64_t bytes) {
  if (bytes <= cpu_left_) {
    cpu_left_ -= bytes;
    cpu_used_ += bytes;
    return DeviceId::host();
  }
  if (disk_) return DeviceId::page_cache();
  return std::nullopt;
}

std::optional<std::uint64_t> place_on_gpu_streaming_the_rest(PlanContext& context, const std::vector<bool>& resident,
                                                             const DeviceInfo& gpu) {
  HostStorage host(context);
  const auto& items = context.items();
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (resident[i]) {
      context.place(items[i], gpu.id, PlacementMode::resident, gpu.id);
      continue;
    }
    const auto storage = host.take(items[i].bytes);
    if (!storage) return std::nullopt;
    context.place(items[i], *storage, PlacementMode::streamed, gpu.id);
  }
  return host.cpu_bytes();
}

}  // namespace vramguard
