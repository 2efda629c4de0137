#include "devices/device_memory.hpp"

#include "vramguard/byte_size.hpp"

namespace vramguard {

OutOfMemory::OutOfMemory(std::string device, std::uint64_t requested, std::uint64_t free, const std::string& detail)
    : JobError("out of memory on " + device + ": " + format_bytes(requested) + " requested, " + format_bytes(free) + " free" +
                   (detail.empty() ? "" : " (" + detail + ")")),
      device_(std::move(device)), requested_(requested), free_(free) {}

}  // namespace vramguard
