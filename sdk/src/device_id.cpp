#include "vramguard/device_id.hpp"

#include <charconv>

namespace vramguard {

std::string_view device_kind_name(DeviceKind kind) {
  switch (kind) {
    case DeviceKind::cuda: return "cuda";
    case DeviceKind::cpu: return "cpu";
    case DeviceKind::disk: return "disk";
  }
  return "cuda";
}

std::string DeviceId::str() const {
  if (kind == DeviceKind::cuda) return "cuda:" + std::to_string(index);
  return std::string(device_kind_name(kind));
}

std::optional<DeviceId> DeviceId::parse(std::string_view text, bool bare_index_is_gpu) {
  if (text == "cpu") return host();
  if (text == "disk") return page_cache();
  std::string_view number = text;
  if (text.substr(0, 5) == "cuda:") number = text.substr(5);
  else if (!bare_index_is_gpu) return std::nullopt;
  // At most 4 digits: no machine has 10,000 GPUs, and it keeps the value far from overflow.
  if (number.empty() || number.size() > 4) return std::nullopt;
  int ordinal = 0;
  const auto [end, error] = std::from_chars(number.data(), number.data() + number.size(), ordinal);
  if (error != std::errc() || end != number.data() + number.size() || ordinal < 0) return std::nullopt;
  return gpu(ordinal);
}

}  // namespace vramguard
