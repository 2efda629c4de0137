#include "vramguard/device_budget.hpp"

#include <algorithm>

namespace vramguard {

void DeviceInfo::update_usable() {
  // free_bytes is measured once the CUDA context exists, so the context is already outside it; a cap
  // bounds everything this process holds on the device, the context included.
  const std::uint64_t after_reserve = free_bytes > reserve_bytes ? free_bytes - reserve_bytes : 0;
  std::uint64_t limit = after_reserve;
  if (cap_bytes) limit = std::min(limit, *cap_bytes > context_bytes ? *cap_bytes - context_bytes : 0);
  limit = limit > adapter_bytes ? limit - adapter_bytes : 0;
  usable_bytes = limit > headroom_bytes ? limit - headroom_bytes : 0;
}

std::vector<const DeviceInfo*> DeviceBudget::gpus() const {
  std::vector<const DeviceInfo*> out;
  for (const auto& device : devices)
    if (device.id.is_gpu()) out.push_back(&device);
  return out;
}

const DeviceInfo* DeviceBudget::find(DeviceId id) const {
  for (const auto& device : devices)
    if (device.id == id) return &device;
  return nullptr;
}

const DeviceInfo* DeviceBudget::cpu() const { return find(DeviceId::host()); }
const DeviceInfo* DeviceBudget::disk() const { return find(DeviceId::page_cache()); }

}  // namespace vramguard
