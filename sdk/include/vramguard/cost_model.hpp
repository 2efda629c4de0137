#pragma once
// The cost model, shared by every strategy and by the host: for a placement, a device budget and a
// workload it predicts each device's peak memory, the load time and the time of one forward pass.
// Every constant lives in CostConstants (docs/cost-model.md says where each figure comes from).
#include <cstdint>
#include <string>
#include <vector>

#include "vramguard/device_budget.hpp"
#include "vramguard/model_graph.hpp"
#include "vramguard/placement.hpp"
#include "vramguard/strategy.hpp"

namespace vramguard {

struct CostConstants {
  // The loader gives each unit one device allocation (tensors are views into it): the caching
  // allocator rounds blocks to 512 bytes and large segments to 2 MiB pages.
  std::uint64_t tensor_alignment = 512;
  std::uint64_t segment_granularity = 2ULL << 20;
  std::uint64_t cuda_context_bytes = 644245094;  // 0.6 GiB, measured on the H100 machine (PyTorch 2.11, CUDA 13)
  std::uint64_t workspace_bytes = 256ULL << 20;   // cuBLAS/cuDNN workspaces, kept inside the headroom
  double page_cache_bytes_per_s = 10e9;           // reading mmap'd checkpoint data already in the page cache
  double pageable_copy_fraction = 0.15;           // pageable ÷ pinned host→device (8.3 ÷ 53.8 GB/s on H100)
  double gpu_efficiency = 0.6;                    // achieved ÷ peak dense bf16 FLOP/s for large matmuls
  double cpu_flops = 1.0e12;                      // sustained bf16 FLOP/s of a desktop CPU (AVX-512/AMX less)
  double default_host_to_device_bytes_per_s = 25e9;  // PCIe 4.0 x16, pinned
  double default_gpu_flops = 50e12;
};

const CostConstants& default_cost_constants();

// Bytes one unit occupies on a device once the allocator has rounded it.
std::uint64_t allocated_bytes(const Unit& unit, const CostConstants& constants = default_cost_constants());

// Tokens a component runs with under a workload: the workload's, else the component's default.
std::uint64_t tokens_for(const Component& component, const Workload& workload);
// Activation headroom for running `component` on a GPU: activations plus workspaces.
std::uint64_t activation_headroom(const Component& component, const Workload& workload,
                                  const CostConstants& constants = default_cost_constants());

struct DevicePrediction {
  std::string device;
  std::uint64_t usable_bytes = 0;
  std::uint64_t resident_bytes = 0;   // allocator-rounded resident weights
  std::uint64_t window_bytes = 0;     // rotating slots for streamed units executing here
  std::uint64_t headroom_bytes = 0;   // activations and workspaces
  std::uint64_t context_bytes = 0;
  std::uint64_t peak_bytes = 0;       // context + resident + window + headroom (GPUs); held bytes (cpu)
  bool fits = true;                   // resident + window within usable (GPUs), bytes within usable (cpu)
};

struct ComponentPrediction {
  std::string component;
  std::uint64_t tokens = 0;
  std::uint64_t streamed_bytes = 0;   // copied host→device during one forward pass
  double step_seconds = 0;            // one forward pass
};

struct Prediction {
  std::vector<DevicePrediction> devices;       // budget order
  std::vector<ComponentPrediction> components;
  std::uint64_t streamed_bytes_per_step = 0;   // all components, one forward pass each
  std::uint64_t pinned_bytes = 0;              // streamed weights held in pinned host memory
  std::uint64_t pageable_bytes = 0;            // streamed weights read from the page cache ("disk")
  double load_seconds = 0;
  double step_seconds = 0;                     // one forward pass of every component
  const DevicePrediction* find(const std::string& device) const;
};

// Unknown devices in the placement are ignored here; validation reports them.
Prediction predict(const ModelGraph& model, const DeviceBudget& budget, const Placement& placement,
                   const Workload& workload, const CostConstants& constants = default_cost_constants());

// Window bytes on a GPU for streamed units of the given sizes at a prefetch depth: depth + 1 slots,
// each as large as the largest streamed unit.
std::uint64_t streaming_window_bytes(std::uint64_t largest_streamed_unit, int prefetch_depth);

}  // namespace vramguard
