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
  // free_bytes is measured once the CUDA context exists, so the context is already outside it; a cap
  // bounds everything this process holds on the device, the context included.
  const std::uint64_t after_reserve = free_bytes > reserve_bytes ? free_bytes - reserve_bytes : 0;
  std::uint64_t limit = after_reserve;
  if (cap_bytes) limit = std::min(limit, *cap_bytes > context_bytes ? *cap_bytes - context_bytes : 0);
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
