#pragma once
// Which other processes hold memory on a GPU, from NVML. libnvidia-ml is opened at run time
// (dlopen), so vramguard runs where the driver lacks it: the answer is then empty.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "devices/device_memory.hpp"

namespace vramguard {

// A process holding `bytes` on a GPU, with what /proc says of it (name, user, command line).
GpuProcess describe_process(std::uint32_t pid, std::uint64_t bytes);
// `pci_bus_id` as cudaDeviceGetPCIBusId gives it; this process is left out.
std::vector<GpuProcess> nvml_processes(const std::string& pci_bus_id);
// What NVML says of a GPU beyond its memory (doctor's facts); every field optional, nullopt without NVML.
struct NvmlFacts {
  std::string name, driver_version, cuda_driver_version, compute_capability;
  std::optional<unsigned int> pcie_generation, pcie_width, max_pcie_generation, max_pcie_width;
  std::optional<bool> ecc_enabled, mig_enabled;
};
std::optional<NvmlFacts> nvml_facts(const std::string& pci_bus_id);

// Every GPU as NVML numbers them (nvidia-smi's order), with its memory and every process on it (this
// one included): what monitor samples, holding no CUDA context. nullopt without NVML.
struct NvmlGpu {
  int index = 0;
  std::string name;
  std::uint64_t total_bytes = 0, free_bytes = 0, used_bytes = 0;
  std::vector<GpuProcess> processes;
};
std::optional<std::vector<NvmlGpu>> nvml_gpus();

// What this process holds on that GPU, context included; 0 when NVML cannot tell.
std::uint64_t nvml_own_bytes(const std::string& pci_bus_id);

}  // namespace vramguard
