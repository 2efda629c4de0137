// The CUDA device runtime: compiled only where the Torch found has CUDA (VRAMGUARD_WITH_CUDA_RUNTIME).
// It uses the CUDA runtime API directly for probing, which is stable across libtorch versions.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>

#include "core/errors.hpp"
#include "devices/device_runtime.hpp"
#include "logging/log.hpp"
#include "vramguard/cost_model.hpp"

namespace vramguard {
namespace {

void check(cudaError_t status, const std::string& what) {
  if (status != cudaSuccess)
    throw JobError(what + " failed: " + cudaGetErrorString(status),
                   "check the driver with nvidia-smi, and CUDA_VISIBLE_DEVICES");
}

// Dense bf16 tensor FLOP/s by product name (vendor specifications); unknown cards get the default.
double peak_flops(const std::string& name) {
  static const std::vector<std::pair<std::string, double>> known = {
      {"H200", 989e12}, {"H100", 989e12}, {"A100", 312e12}, {"L40S", 362e12}, {"4090", 165.2e12}, {"4080", 97.5e12},
  };
  for (const auto& [key, flops] : known)
    if (name.find(key) != std::string::npos) return flops;
  return default_cost_constants().default_gpu_flops;
}

// Pinned host→device bandwidth, best of a few 256 MiB copies; measured once per device per process.
double measure_host_to_device(int device) {
  static std::mutex mutex;
  static std::map<int, double> cache;
  std::lock_guard lock(mutex);
  if (const auto it = cache.find(device); it != cache.end()) return it->second;
  constexpr std::size_t bytes = 256ULL << 20;
  void* host = nullptr;
  void* dev = nullptr;
  cudaEvent_t start{}, stop{};
  check(cudaSetDevice(device), "cudaSetDevice");
  check(cudaHostAlloc(&host, bytes, cudaHostAllocDefault), "pinning 256 MiB of host memory for the bandwidth probe");
  const cudaError_t alloc = cudaMalloc(&dev, bytes);
  if (alloc != cudaSuccess) {
    cudaFreeHost(host);
    log::warn("cuda:", device, ": no room for the bandwidth probe; assuming PCIe 4.0 x16");
    return cache[device] = default_cost_constants().default_host_to_device_bytes_per_s;
  }
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  float best_ms = 1e30f;
  for (int i = 0; i < 4; ++i) {
    cudaEventRecord(start);
    cudaMemcpyAsync(dev, host, bytes, cudaMemcpyHostToDevice);
    cudaEventRecord(stop);
    cudaEventSynchronize(stop);
    float ms = 0;
    cudaEventElapsedTime(&ms, start, stop);
    if (i > 0) best_ms = std::min(best_ms, ms);  // the first copy warms up the path
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  cudaFree(dev);
  cudaFreeHost(host);
  const double bandwidth = static_cast<double>(bytes) / (static_cast<double>(best_ms) / 1e3);
  log::debug("cuda:", device, ": pinned host->device ", bandwidth / 1e9, " GB/s");
  return cache[device] = bandwidth;
}

class CudaRuntime final : public DeviceRuntime {
 public:
  std::string name() const override { return "cuda"; }

  std::vector<DeviceInfo> probe_gpus() override {
    int count = 0;
    const cudaError_t status = cudaGetDeviceCount(&count);
    if (status == cudaErrorNoDevice || status == cudaErrorInsufficientDriver || count == 0)
      throw JobError(std::string("no usable CUDA device (") + cudaGetErrorString(status) + ")",
                     "check nvidia-smi and CUDA_VISIBLE_DEVICES, or plan for declared GPUs with --simulate rtx4080");
    check(status, "cudaGetDeviceCount");
    std::vector<DeviceInfo> gpus;
    for (int d = 0; d < count; ++d) {
      check(cudaSetDevice(d), "cudaSetDevice");
      check(cudaFree(nullptr), "creating the CUDA context");  // free is only meaningful once it exists
      cudaDeviceProp properties{};
      check(cudaGetDeviceProperties(&properties, d), "cudaGetDeviceProperties");
      std::size_t free_bytes = 0, total_bytes = 0;
      check(cudaMemGetInfo(&free_bytes, &total_bytes), "cudaMemGetInfo");
      DeviceInfo gpu;
      gpu.name = "cuda:" + std::to_string(d);
      gpu.kind = DeviceKind::cuda;
      gpu.index = d;
      gpu.description = std::string(properties.name) + " (compute capability " + std::to_string(properties.major) + "." +
                        std::to_string(properties.minor) + ")";
      gpu.total_bytes = total_bytes;
      gpu.free_bytes = free_bytes;
      gpu.context_bytes = default_cost_constants().cuda_context_bytes;
      gpu.compute_flops = peak_flops(properties.name);
      gpu.host_to_device_bytes_per_s = measure_host_to_device(d);
      gpus.push_back(gpu);
    }
    return gpus;
  }
};

}  // namespace

std::unique_ptr<DeviceRuntime> make_cuda_runtime() { return std::make_unique<CudaRuntime>(); }
bool cuda_runtime_compiled() { return true; }

}  // namespace vramguard
