#include "devices/nvml_processes.hpp"

#include <dlfcn.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <mutex>

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

struct Nvml {
  nvmlReturn_t (*init)() = nullptr;
  nvmlReturn_t (*by_pci)(const char*, nvmlDevice_t*) = nullptr;
  nvmlReturn_t (*compute)(nvmlDevice_t, unsigned int*, NvmlProcessInfo*) = nullptr;
  nvmlReturn_t (*graphics)(nvmlDevice_t, unsigned int*, NvmlProcessInfo*) = nullptr;
  bool ready = false;
};

const Nvml& nvml() {
  static Nvml api;
  static std::once_flag once;
  std::call_once(once, [] {
    void* library = ::dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (library == nullptr) {
      log::debug("NVML not available (", ::dlerror(), "): other processes on the GPU are not listed");
      return;
    }
    api.init = reinterpret_cast<nvmlReturn_t (*)()>(::dlsym(library, "nvmlInit_v2"));
    api.by_pci = reinterpret_cast<nvmlReturn_t (*)(const char*, nvmlDevice_t*)>(::dlsym(library, "nvmlDeviceGetHandleByPciBusId_v2"));
    api.compute = reinterpret_cast<nvmlReturn_t (*)(nvmlDevice_t, unsigned int*, NvmlProcessInfo*)>(
        ::dlsym(library, "nvmlDeviceGetComputeRunningProcesses_v3"));
    api.graphics = reinterpret_cast<nvmlReturn_t (*)(nvmlDevice_t, unsigned int*, NvmlProcessInfo*)>(
        ::dlsym(library, "nvmlDeviceGetGraphicsRunningProcesses_v3"));
    api.ready = api.init && api.by_pci && api.compute && api.init() == 0;
  });
  return api;
}

std::string process_name(unsigned int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
  std::string name;
  std::getline(in, name);
  return name.empty() ? "(unknown)" : name;
}

std::string process_user(unsigned int pid) {
  struct stat st {};
  if (::stat(("/proc/" + std::to_string(pid)).c_str(), &st) != 0) return {};
  if (const passwd* pw = ::getpwuid(st.st_uid)) return pw->pw_name;
  return std::to_string(st.st_uid);
}

// Every process on the GPU with its memory, ours included.
std::vector<NvmlProcessInfo> all_processes(const std::string& pci_bus_id) {
  const Nvml& api = nvml();
  std::vector<NvmlProcessInfo> out;
  if (!api.ready) return out;
  nvmlDevice_t device = nullptr;
  if (api.by_pci(pci_bus_id.c_str(), &device) != 0) return out;
  for (auto* query : {api.compute, api.graphics}) {
    if (query == nullptr) continue;
    unsigned int count = 64;
    std::vector<NvmlProcessInfo> infos(count);
    if (query(device, &count, infos.data()) != 0) continue;
    out.insert(out.end(), infos.begin(), infos.begin() + count);
  }
  return out;
}

// NVML reports NOT_AVAILABLE as all ones when it cannot see a process's memory (containers).
std::uint64_t used_bytes(const NvmlProcessInfo& info) { return info.usedGpuMemory == ~0ULL ? 0 : info.usedGpuMemory; }

}  // namespace

std::vector<GpuProcess> nvml_processes(const std::string& pci_bus_id) {
  std::vector<GpuProcess> out;
  for (const auto& info : all_processes(pci_bus_id))
    if (info.pid != static_cast<unsigned int>(::getpid()))
      out.push_back({info.pid, process_name(info.pid), process_user(info.pid), used_bytes(info)});
  return out;
}

std::uint64_t nvml_own_bytes(const std::string& pci_bus_id) {
  std::uint64_t bytes = 0;
  for (const auto& info : all_processes(pci_bus_id))
    if (info.pid == static_cast<unsigned int>(::getpid())) bytes = std::max<std::uint64_t>(bytes, used_bytes(info));
  return bytes;
}

}  // namespace vramguard
