#pragma once
// Small models and budgets for planning tests, built in code.
#include <cstdint>
#include <string>
#include <vector>

#include "vramguard/cost_model.hpp"
#include "vramguard/strategy.hpp"

namespace vramguard::testing {

inline constexpr DeviceId kGpu0 = DeviceId::gpu(0);
inline constexpr DeviceId kGpu1 = DeviceId::gpu(1);
inline constexpr DeviceId kCpu = DeviceId::host();
inline constexpr DeviceId kDisk = DeviceId::page_cache();

inline constexpr std::uint64_t MiB = 1ULL << 20;
inline constexpr std::uint64_t GiB = 1ULL << 30;

// A unit of `bytes` bytes in one bf16 tensor (bytes must be even).
inline Unit make_unit(const std::string& name, std::uint64_t bytes, UnitKind kind = UnitKind::block,
                      double flops_per_token = 0) {
  Unit unit;
  unit.name = name;
  unit.kind = kind;
  TensorInfo tensor;
  tensor.name = name + ".weight";
  tensor.dtype = DType::BF16;
  tensor.shape = {static_cast<std::int64_t>(bytes / 2)};
  tensor.elements = bytes / 2;
  tensor.stored_bytes = tensor.bytes = bytes;
  unit.tensors.push_back(tensor);
  unit.bytes = bytes;
  unit.parameters = bytes / 2;
  unit.flops_per_token = flops_per_token > 0 ? flops_per_token : static_cast<double>(bytes);  // 2 FLOP per bf16 weight
  return unit;
}

// A one-component model whose units ("layers.N") have the given sizes.
inline ModelGraph make_model(const std::vector<std::uint64_t>& unit_bytes, const std::string& component = "model") {
  ModelGraph model;
  Component c;
  c.name = component;
  c.architecture = "test";
  c.default_tokens = 512;
  c.activation_bytes_per_token = 1024;
  for (std::size_t i = 0; i < unit_bytes.size(); ++i)
    c.units.push_back(make_unit("layers." + std::to_string(i), unit_bytes[i]));
  model.components.push_back(c);
  return model;
}

inline DeviceInfo make_gpu(int index, std::uint64_t usable, double bandwidth = 25e9, double flops = 100e12) {
  DeviceInfo gpu;
  gpu.id = DeviceId::gpu(index);
  gpu.total_bytes = gpu.free_bytes = usable;
  gpu.usable_bytes = usable;
  gpu.host_to_device_bytes_per_s = bandwidth;
  gpu.compute_flops_per_s = flops;
  gpu.context_bytes = 0;
  return gpu;
}

// GPUs with the given usable bytes, a CPU with `cpu` bytes (pinned cap the same), and a disk.
inline DeviceBudget make_budget(const std::vector<std::uint64_t>& gpu_usable, std::uint64_t cpu,
                                bool with_disk = true) {
  DeviceBudget budget;
  for (std::size_t i = 0; i < gpu_usable.size(); ++i)
    budget.devices.push_back(make_gpu(static_cast<int>(i), gpu_usable[i]));
  DeviceInfo host;
  host.id = DeviceId::host();
  host.total_bytes = host.free_bytes = host.usable_bytes = cpu;
  budget.devices.push_back(host);
  if (with_disk) {
    DeviceInfo disk;
    disk.id = DeviceId::page_cache();
    disk.usable_bytes = UINT64_MAX;
    budget.devices.push_back(disk);
  }
  budget.pinned_cap_bytes = cpu;
  return budget;
}

inline Placement plan_with(const PlacementStrategy& strategy, const ModelGraph& model, const DeviceBudget& budget,
                           const StrategyOptions& options = {}, Workload workload = {}) {
  return strategy.plan({model, budget, workload, options});
}

}  // namespace vramguard::testing
