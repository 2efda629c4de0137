#include "devices/device_runtime.hpp"

#include <initializer_list>

namespace vramguard {

std::uint64_t device_runtime_layout_fingerprint() {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  for (std::size_t figure :
       {sizeof(DeviceInfo), alignof(DeviceInfo), sizeof(DeviceId), sizeof(MemorySnapshot), alignof(MemorySnapshot),
        sizeof(GpuProcess), sizeof(UploadSource), sizeof(StreamPiece), alignof(StreamPiece), sizeof(OutOfMemory),
        sizeof(std::string), sizeof(std::vector<int>), static_cast<std::size_t>(kDeviceRuntimeInterfaceVersion)})
    for (int byte = 0; byte < 8; ++byte) {
      hash ^= (static_cast<std::uint64_t>(figure) >> (8 * byte)) & 0xFF;
      hash *= 0x100000001b3ULL;
    }
  return hash;
}

}  // namespace vramguard
