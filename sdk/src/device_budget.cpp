#include "vramguard/device_budget.hpp"

#include <algorithm>

namespace vramguard {

std::string_view device_kind_name(DeviceKind kind) {
  switch (kind) {
    case DeviceKind::cuda: return "cuda";
    case DeviceKind::cpu: return "cpu";
    case DeviceKind::disk: return "disk";
  }
  return "cuda";
}

void DeviceInfo::update_usable() {
  const std::uint64_t after_reserve = free_bytes > reserve_bytes ? free_bytes - reserve_bytes : 0;
  const std::uint64_t limit = cap_bytes ? std::min(*cap_bytes, after_reserve) : after_reserve;
  usable_bytes = limit > headroom_bytes ? limit - headroom_bytes : 0;
}

std::vector<const DeviceInfo*> DeviceBudget::gpus() const {
  std::vector<const DeviceInfo*> out;
  for (const auto& device : devices)
    if (device.kind == DeviceKind::cuda) out.push_back(&device);
  return out;
}

const DeviceInfo* DeviceBudget::find(const std::string& name) const {
  for (const auto& device : devices)
    if (device.name == name) return &device;
  return nullptr;
}

const DeviceInfo* DeviceBudget::cpu() const { return find("cpu"); }
const DeviceInfo* DeviceBudget::disk() const { return find("disk"); }

}  // namespace vramguard
