#include "devices/nvml_processes.hpp"

#include <dlfcn.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <mutex>

#include "core/process_info.hpp"
#include "logging/log.hpp"

namespace vramguard {
namespace {

// The few NVML declarations used, with the layouts of NVML 11.x/12.x (nvmlProcessInfo_v2_t).
using nvmlReturn_t = int;
using nvmlDevice_t = void*;
struct NvmlProcessInfo {
  unsigned int pid;
  unsigned long long usedGpuMemory;
  unsigned int gpuInstanceId;
  unsigned int computeInstanceId;
};

struct NvmlMemory {  // nvmlMemory_t
  unsigned long long total;
  unsigned long long free;
  unsigned long long used;
};

struct Nvml {
  nvmlReturn_t (*init)() = nullptr;
  nvmlReturn_t (*by_pci)(const char*, nvmlDevice_t*) = nullptr;
  nvmlReturn_t (*compute)(nvmlDevice_t, unsigned int*, NvmlProcessInfo*) = nullptr;
  nvmlReturn_t (*graphics)(nvmlDevice_t, unsigned int*, NvmlProcessInfo*) = nullptr;
  // What doctor reports; any may be missing from an older driver.
  nvmlReturn_t (*name)(nvmlDevice_t, char*, unsigned int) = nullptr;
  nvmlReturn_t (*driver_version)(char*, unsigned int) = nullptr;
  nvmlReturn_t (*cuda_driver_version)(int*) = nullptr;
  nvmlReturn_t (*compute_capability)(nvmlDevice_t, int*, int*) = nullptr;
  nvmlReturn_t (*pcie_generation)(nvmlDevice_t, unsigned int*) = nullptr;
  nvmlReturn_t (*pcie_width)(nvmlDevice_t, unsigned int*) = nullptr;
  nvmlReturn_t (*max_pcie_generation)(nvmlDevice_t, unsigned int*) = nullptr;
  nvmlReturn_t (*max_pcie_width)(nvmlDevice_t, unsigned int*) = nullptr;
  nvmlReturn_t (*ecc_mode)(nvmlDevice_t, int*, int*) = nullptr;
  nvmlReturn_t (*mig_mode)(nvmlDevice_t, unsigned int*, unsigned int*) = nullptr;
  // What monitor samples, without a CUDA context of its own.
  nvmlReturn_t (*count)(unsigned int*) = nullptr;
  nvmlReturn_t (*by_index)(unsigned int, nvmlDevice_t*) = nullptr;
  nvmlReturn_t (*memory)(nvmlDevice_t, NvmlMemory*) = nullptr;
  bool ready = false;
};

template <typename Function>
void bind(void* library, Function& function, const char* symbol) {
  function = reinterpret_cast<Function>(::dlsym(library, symbol));
}

const Nvml& nvml() {
  static Nvml api;
  static std::once_flag once;
  std::call_once(once, [] {
    void* library = ::dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (library == nullptr) {
      log::debug("NVML not available (", ::dlerror(), "): other processes on the GPU are not listed");
      return;
    }
    bind(library, api.init, "nvmlInit_v2");
    bind(library, api.by_pci, "nvmlDeviceGetHandleByPciBusId_v2");
    bind(library, api.compute, "nvmlDeviceGetComputeRunningProcesses_v3");
    bind(library, api.graphics, "nvmlDeviceGetGraphicsRunningProcesses_v3");
    bind(library, api.name, "nvmlDeviceGetName");
    bind(library, api.driver_version, "nvmlSystemGetDriverVersion");
    bind(library, api.cuda_driver_version, "nvmlSystemGetCudaDriverVersion_v2");
    bind(library, api.compute_capability, "nvmlDeviceGetCudaComputeCapability");
    bind(library, api.pcie_generation, "nvmlDeviceGetCurrPcieLinkGeneration");
    bind(library, api.pcie_width, "nvmlDeviceGetCurrPcieLinkWidth");
    bind(library, api.max_pcie_generation, "nvmlDeviceGetMaxPcieLinkGeneration");
    bind(library, api.max_pcie_width, "nvmlDeviceGetMaxPcieLinkWidth");
    bind(library, api.ecc_mode, "nvmlDeviceGetEccMode");
    bind(library, api.mig_mode, "nvmlDeviceGetMigMode");
    bind(library, api.count, "nvmlDeviceGetCount_v2");
    bind(library, api.by_index, "nvmlDeviceGetHandleByIndex_v2");
    bind(library, api.memory, "nvmlDeviceGetMemoryInfo");
    api.ready = api.init && api.by_pci && api.compute && api.init() == 0;
  });
  return api;
}

// Every process on the GPU with its memory, ours included.
std::vector<NvmlProcessInfo> processes_on(nvmlDevice_t device) {
  const Nvml& api = nvml();
  std::vector<NvmlProcessInfo> out;
  for (auto* query : {api.compute, api.graphics}) {
    if (query == nullptr) continue;
    unsigned int count = 64;
    std::vector<NvmlProcessInfo> infos(count);
    if (query(device, &count, infos.data()) != 0) continue;
    out.insert(out.end(), infos.begin(), infos.begin() + count);
  }
  return out;
}

std::vector<NvmlProcessInfo> all_processes(const std::string& pci_bus_id) {
  const Nvml& api = nvml();
  nvmlDevice_t device = nullptr;
  if (!api.ready || api.by_pci(pci_bus_id.c_str(), &device) != 0) return {};
  return processes_on(device);
}

// NVML reports NOT_AVAILABLE as all ones when it cannot see a process's memory (containers).
std::uint64_t used_bytes(const NvmlProcessInfo& info) { return info.usedGpuMemory == ~0ULL ? 0 : info.usedGpuMemory; }

}  // namespace

GpuProcess describe_process(std::uint32_t pid, std::uint64_t bytes) {
  GpuProcess process{pid, "(unknown)", "", bytes, std::nullopt, ""};
  if (const auto info = read_process(static_cast<pid_t>(pid))) {
    process.name = info->name;
    process.user = info->user;
    process.uid = info->uid;
    process.command = info->command;
  }
  return process;
}

std::vector<GpuProcess> nvml_processes(const std::string& pci_bus_id) {
  std::vector<GpuProcess> out;
  for (const auto& info : all_processes(pci_bus_id))
    if (info.pid != static_cast<unsigned int>(::getpid())) out.push_back(describe_process(info.pid, used_bytes(info)));
  return out;
}

std::optional<NvmlFacts> nvml_facts(const std::string& pci_bus_id) {
  const Nvml& api = nvml();
  if (!api.ready || pci_bus_id.empty()) return std::nullopt;
  nvmlDevice_t device = nullptr;
  if (api.by_pci(pci_bus_id.c_str(), &device) != 0) return std::nullopt;
  NvmlFacts facts;
  char text[96] = {};
  if (api.name && api.name(device, text, sizeof text) == 0) facts.name = text;
  if (api.driver_version && api.driver_version(text, sizeof text) == 0) facts.driver_version = text;
  int version = 0;
  if (api.cuda_driver_version && api.cuda_driver_version(&version) == 0)
    facts.cuda_driver_version = std::to_string(version / 1000) + "." + std::to_string(version % 1000 / 10);
  int major = 0, minor = 0;
  if (api.compute_capability && api.compute_capability(device, &major, &minor) == 0)
    facts.compute_capability = std::to_string(major) + "." + std::to_string(minor);
  unsigned int value = 0;
  if (api.pcie_generation && api.pcie_generation(device, &value) == 0) facts.pcie_generation = value;
  if (api.pcie_width && api.pcie_width(device, &value) == 0) facts.pcie_width = value;
  if (api.max_pcie_generation && api.max_pcie_generation(device, &value) == 0) facts.max_pcie_generation = value;
  if (api.max_pcie_width && api.max_pcie_width(device, &value) == 0) facts.max_pcie_width = value;
  int ecc = 0, pending_ecc = 0;
  if (api.ecc_mode && api.ecc_mode(device, &ecc, &pending_ecc) == 0) facts.ecc_enabled = ecc != 0;
  unsigned int mig = 0, pending_mig = 0;
  if (api.mig_mode && api.mig_mode(device, &mig, &pending_mig) == 0) facts.mig_enabled = mig != 0;
  return facts;
}

std::optional<std::vector<NvmlGpu>> nvml_gpus() {
  const Nvml& api = nvml();
  if (!api.ready || !api.count || !api.by_index || !api.memory) return std::nullopt;
  unsigned int count = 0;
  if (api.count(&count) != 0) return std::nullopt;
  std::vector<NvmlGpu> gpus;
  for (unsigned int i = 0; i < count; ++i) {
    nvmlDevice_t device = nullptr;
    if (api.by_index(i, &device) != 0) continue;
    NvmlGpu gpu;
    gpu.index = static_cast<int>(i);
    char name[96] = {};
    if (api.name && api.name(device, name, sizeof name) == 0) gpu.name = name;
    NvmlMemory memory{};
    if (api.memory(device, &memory) == 0) {
      gpu.total_bytes = memory.total;
      gpu.free_bytes = memory.free;
      gpu.used_bytes = memory.used;
    }
    for (const auto& info : processes_on(device)) gpu.processes.push_back(describe_process(info.pid, used_bytes(info)));
    gpus.push_back(std::move(gpu));
  }
  return gpus;
}

std::uint64_t nvml_own_bytes(const std::string& pci_bus_id) {
  std::uint64_t bytes = 0;
  for (const auto& info : all_processes(pci_bus_id))
    if (info.pid == static_cast<unsigned int>(::getpid())) bytes = std::max<std::uint64_t>(bytes, used_bytes(info));
  return bytes;
}

}  // namespace vramguard
