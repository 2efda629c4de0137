#pragma once
// Which other processes hold memory on a GPU, from NVML. libnvidia-ml is opened at run time
// (dlopen), so vramguard runs where the driver lacks it: the answer is then empty.
#include <cstdint>
#include <string>
#include <vector>

#include "devices/device_memory.hpp"

namespace vramguard {

// `pci_bus_id` as cudaDeviceGetPCIBusId gives it; this process is left out.
std::vector<GpuProcess> nvml_processes(const std::string& pci_bus_id);
// What this process holds on that GPU, context included; 0 when NVML cannot tell.
std::uint64_t nvml_own_bytes(const std::string& pci_bus_id);

}  // namespace vramguard
