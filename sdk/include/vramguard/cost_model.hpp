#pragma once
// The cost model, shared by every strategy and by the host: for a placement, a device budget and a
// workload it predicts each device's peak memory, the load time and the time of one forward pass.
// Every constant lives in CostConstants (docs/cost-model.md says where each figure comes from).
#include <cstdint>
#include <optional>
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
  std::uint64_t tensor_alignment_bytes = 512;
  std::uint64_t segment_granularity_bytes = 2ULL << 20;
  // Assumed where it cannot be measured (simulated GPUs): 0.6 GiB, measured on the H100 machine.
  std::uint64_t assumed_cuda_context_bytes = 644245094;
  // Kept inside the headroom: cuBLAS workspaces (in PyTorch's allocator) and what a first pass adds to
  // the context outside it (kernel modules, library handles): 33 + 181 MiB on the H200 machine.
  std::uint64_t workspace_bytes = 224ULL << 20;
  // On a GPU whose memory comes from PyTorch's caching allocator, a step's activations leave fragments
  // in its cache that it cannot hand back, so the process holds more than its tensors: the headroom
  // grows by this share of itself there. Where the share is too small the allocator reaches its limit,
  // empties its cache and retries, and every retry waits for all streams (the copies stop overlapping
  // compute). Measured on an H100 (full-size 1024x1024 edit under a 12 GB cap, 2026-12-06): with 0.15,
  // CFG's passes apart held 1.59 GB for 1.20 GB of activations and retried in the first three steps
  // only; as one batch it held 2.93 GB for 2.34 GB and retried ~40 times every step (1.22 s a step
  // against 1.00 s for the same batch resident).
  double cache_slack_fraction = 0.25;
  // Measured on the H200 machine (docs/cost-model.md gives the runs):
  double page_cache_bytes_per_s = 38e9;    // the loader's reader threads, page cache → pinned staging
  double staged_stream_bytes_per_s = 6e9;  // a window filled through the staging ring at run time (one reader per GPU)
  double pageable_copy_fraction = 0.15;    // pageable ÷ pinned host→device (8.3 ÷ 53.8 GB/s on H100)
  double gpu_efficiency = 0.8;             // achieved ÷ peak dense bf16 FLOP/s, the arithmetic of large matmuls
  // Achieved ÷ peak dense fp8 FLOP/s of vramguard's fp8 Linears (the input's rows quantized, then the
  // row-wise scaled matmul): on an H100 the full-size transformer's image-token Linears ran 1.48× faster
  // than in bf16 with twice the peak (bench/README.md, "fp8 matmuls"): 0.8 × 1.48 ÷ 2.
  double fp8_gpu_efficiency = 0.59;
  double matmul_fixed_seconds = 40e-6;  // what a matmul costs beyond its arithmetic (waves, prologue)
  // Achieved ÷ peak memory bandwidth of a block's element-wise passes (Unit::elementwise_bytes_per_token):
  // on an H100 (3.35 TB/s) the full-size MMDiT's norms, modulations, residuals, q/k rotary and GELU took
  // 0.82 ms a block pass for 1.70 GB in bf16 (0.62), its fp8 matmuls' passes with the quantizations
  // 1.04 ms for 1.85 GB (0.53); profiled, bench/README.md ("Where an fp8 step's time goes").
  double memory_efficiency = 0.6;
  double launch_seconds_per_tensor = 30e-6;          // the least a unit takes: its kernels' launches, ~3 per weight
  double copy_efficiency = 0.98;                     // window copies ÷ the probed pinned bandwidth
  double cpu_flops_per_s = 1.0e12;                   // sustained bf16 FLOP/s of a desktop CPU (AVX-512/AMX less)
  double default_host_to_device_bytes_per_s = 25e9;  // PCIe 4.0 x16, pinned
  double default_gpu_flops_per_s = 50e12;
  double default_memory_bytes_per_s = 1e12;  // a GPU's own memory, assumed for a GPU declared by its size alone
  // Making streamed weights ready before the first step (docs/cost-model.md, "Ready"):
  double pinned_fill_bytes_per_s = 2.2e9;  // allocate, pin and fill host blocks from the page cache
  double registration_bytes_per_s = 35e9;  // register a page-cached mapping read-only with the driver
  // A window filled from the registered mapping runs slower than from pinned memory, and slows the
  // compute beside it (likely the copy engine walking the page cache's 4 KiB pages through the GPU's MMU,
  // which the kernels share). Measured on an H100 (Edit-2511's full-size step under the RTX 4080 config, 81.6 GB
  // streamed, 2026-12-06): 1.666 s a step registered against 1.513 s pinned (1.124x and 1.021x the pinned
  // copy bound; the blocks' compute 11.98 against 11.61 ms, 11.41 ms resident). The step's copies count
  // at this share of the pinned rate.
  double registered_copy_fraction = 0.91;
};

const CostConstants& default_cost_constants();

// Bytes one unit occupies on a device once the allocator has rounded it (tied tensors live with their owner).
std::uint64_t allocated_bytes(const Unit& unit, const CostConstants& constants = default_cost_constants());
// Bytes of a window slot that can hold the unit while it runs: its own tensors and, since a slot must
// hold everything the unit reads, those it shares with another unit (a tied head's embedding).
std::uint64_t window_slot_bytes(const Unit& unit, const CostConstants& constants = default_cost_constants());

// The sequence length of one pass of a component: the workload's for it, else the workload's, else
// the component's default.
std::uint64_t sequence_tokens_for(const Component& component, const Workload& workload);
// Tokens a component runs with under a workload: its sequence length times the batch.
std::uint64_t tokens_for(const Component& component, const Workload& workload);
// Activation headroom for running `component` on a GPU: activations plus workspaces.
std::uint64_t activation_headroom(const Component& component, const Workload& workload,
                                  const CostConstants& constants = default_cost_constants());

// Sustained FLOP/s and pinned host→device bandwidth of a GPU (the defaults where it declares none).
double gpu_flops_per_s(const DeviceInfo* gpu, const CostConstants& constants = default_cost_constants());
double host_to_device_bytes_per_s(const DeviceInfo* gpu, const CostConstants& constants = default_cost_constants());
// The sustained bandwidth of a GPU's own memory for element-wise passes; 0 where it declares none (a
// driver that reports no memory clock), and element-wise passes are then not counted.
double gpu_memory_bytes_per_s(const DeviceInfo* gpu, const CostConstants& constants = default_cost_constants());
// FLOPs of one pass of `tokens` tokens (per sequence) through a unit, over `batch` sequences.
double unit_pass_flops(const Unit& unit, std::uint64_t tokens, std::uint64_t batch = 1);
// Seconds a GPU computes one pass of a unit: its FLOPs at the sustained rate — `fp8_flops` of them as
// fp8 matmuls where the GPU has fp8 tensor cores — plus `elementwise_bytes` at the sustained memory
// bandwidth, and never less than launching its kernels takes (small units at few tokens are launch-bound).
double unit_gpu_seconds(const Unit& unit, double flops, const DeviceInfo* gpu,
                        const CostConstants& constants = default_cost_constants(), double fp8_flops = 0,
                        double elementwise_bytes = 0);
// unit_gpu_seconds of one pass of `tokens` tokens (per sequence) under the workload: its batch, its fp8
// share at the fp8 rate where the workload asks for fp8 matmuls and the GPU has them, and its element-wise
// bytes (the fp8 matmuls' where those run). What predict() and the strategies weigh a pass by.
double unit_pass_gpu_seconds(const Unit& unit, std::uint64_t tokens, const Workload& workload, const DeviceInfo* gpu,
                             const CostConstants& constants = default_cost_constants());

// How streamed weights held on the host reach the GPU during a pass.
enum class StreamSource : std::uint8_t {
  pinned_copy,         // copied into pinned host memory at load; DMA from there
  registered_mapping,  // the mapped checkpoint itself registered with the driver (read-only); DMA from the page cache
  staged_page_cache,   // read from the page cache into the pinned staging ring at run time
};
std::string_view stream_source_name(StreamSource source);

struct DevicePrediction {
  DeviceId device;
  std::uint64_t usable_bytes = 0;
  std::uint64_t resident_bytes = 0;  // allocator-rounded resident weights
  std::uint64_t window_bytes = 0;    // rotating slots for streamed units executing here
  std::uint64_t headroom_bytes = 0;  // activations and workspaces
  std::uint64_t context_bytes = 0;
  std::uint64_t adapter_bytes = 0;  // weights beside the checkpoint's (DeviceInfo::adapter_bytes)
  std::uint64_t peak_bytes = 0;     // context + adapters + resident + window + headroom (GPUs); held bytes (cpu)
  bool fits = true;                 // resident + window within usable (GPUs), bytes within usable (cpu)
};

struct ComponentPrediction {
  std::string component;
  std::uint64_t tokens = 0;
  std::uint64_t passes = 1;          // forward passes in one job (Workload::components)
  std::uint64_t streamed_bytes = 0;  // copied host→device during one forward pass
  double compute_seconds = 0;        // the pass's arithmetic alone
  double copy_seconds = 0;           // its streamed bytes alone
  double step_seconds = 0;           // one forward pass, overlap accounted for
};

struct Prediction {
  std::vector<DevicePrediction> devices;  // budget order
  std::vector<ComponentPrediction> components;
  std::uint64_t streamed_bytes_per_step = 0;               // all components, one forward pass each
  std::uint64_t pinned_bytes = 0;                          // streamed weights held on the host (storage cpu)
  std::uint64_t pageable_bytes = 0;                        // streamed weights read from the page cache ("disk")
  StreamSource stream_source = StreamSource::pinned_copy;  // for the weights stored on cpu
  std::string stream_source_reason;                        // why, with the rates it compared
  double ready_seconds = 0;                                // the load: until the model can run its first step
  double step_seconds = 0;                                 // one forward pass of every component
  // The job the workload describes: each component's passes (one each unless it says otherwise).
  std::uint64_t streamed_bytes_per_job = 0;
  double job_seconds = 0;
  const DevicePrediction* find(DeviceId device) const;
};

// Unknown devices in the placement are ignored here; validation reports them. `stream_source` forces
// how host-held streamed weights reach the GPU (--stream-from); unset, the cheapest allowed is chosen.
Prediction predict(const ModelGraph& model, const DeviceBudget& budget, const Placement& placement,
                   const Workload& workload, const CostConstants& constants = default_cost_constants(),
                   std::optional<StreamSource> stream_source = std::nullopt);

// Window bytes on a GPU for streamed units of the given sizes at a prefetch depth: depth + 1 slots,
// each as large as the largest streamed unit.
std::uint64_t streaming_window_bytes(std::uint64_t largest_streamed_unit, int prefetch_depth);

// "1.5 ms", "2.40 s": how reports and explanations show a duration.
std::string format_seconds(double seconds);

}  // namespace vramguard
