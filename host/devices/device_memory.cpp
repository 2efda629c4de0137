#include "devices/device_memory.hpp"

#include "vramguard/byte_size.hpp"

namespace vramguard {

OutOfMemory::OutOfMemory(DeviceId device, std::uint64_t requested, std::uint64_t free, const std::string& detail)
    : MemoryError("out of memory on " + device.str() + ": " + format_bytes(requested) + " requested, " +
                  format_bytes(free) + " free at that moment" + (detail.empty() ? "" : " (" + detail + ")")),
      device_(device),
      requested_(requested),
      free_(free) {}

}  // namespace vramguard
