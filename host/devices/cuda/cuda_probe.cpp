#include "devices/cuda/cuda_probe.hpp"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "devices/cuda/cuda_support.hpp"
#include "logging/log.hpp"
#include "vramguard/cost_model.hpp"

namespace vramguard::cuda {

double peak_flops(const std::string& name) {
  static const std::vector<std::pair<std::string, double>> known = {
      {"H200", 989e12}, {"H100", 989e12}, {"A100", 312e12}, {"L40S", 362e12}, {"4090", 165.2e12}, {"4080", 97.5e12},
  };
  for (const auto& [key, flops] : known)
    if (name.find(key) != std::string::npos) return flops;
  return default_cost_constants().default_gpu_flops_per_s;
}

double memory_bandwidth(int device) {
  int clock_khz = 0, bus_bits = 0;
  if (cudaDeviceGetAttribute(&clock_khz, cudaDevAttrMemoryClockRate, device) != cudaSuccess ||
      cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, device) != cudaSuccess || clock_khz <= 0 ||
      bus_bits <= 0) {
    cudaGetLastError();  // not sticky: clear it so that the next call does not report it
    return 0;            // unknown: the cost model then leaves the element-wise passes out
  }
  return 2.0 * static_cast<double>(clock_khz) * 1e3 * static_cast<double>(bus_bits) / 8.0;
}

double measure_host_to_device(int device) {
  static std::mutex mutex;
  static std::map<int, double> cache;
  std::lock_guard lock(mutex);
  if (const auto it = cache.find(device); it != cache.end()) return it->second;
  constexpr std::size_t bytes = 256ULL << 20;
  void* host = nullptr;
  void* dev = nullptr;
  cudaEvent_t start{}, stop{};
  const DeviceScope scope(device);
  check(cudaHostAlloc(&host, bytes, cudaHostAllocDefault), "pinning 256 MiB of host memory for the bandwidth probe");
  if (cudaMalloc(&dev, bytes) != cudaSuccess) {
    cudaGetLastError();
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

}  // namespace vramguard::cuda
