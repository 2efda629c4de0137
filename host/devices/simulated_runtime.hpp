#pragma once
// Simulated GPUs, declared by preset (`rtx4080`) or spec (`cuda:16GiB@25GB/s,cuda:16GiB@25GB/s`, each
// entry optionally a preset name). Free memory is the capacity less a CUDA context, as on a real card.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "devices/device_runtime.hpp"

namespace vramguard {

struct GpuPreset {
  std::string name;         // "rtx4080"
  std::string description;  // "NVIDIA GeForce RTX 4080 16 GB (PCIe 4.0 x16)"
  std::uint64_t total_bytes;
  double host_to_device_bytes_per_s;
  double compute_flops_per_s;  // dense bf16 tensor FLOP/s
  double memory_bytes_per_s;   // the card's own memory, peak
  std::string compute_capability;
  unsigned int pcie_generation = 4, pcie_width = 16;  // the link the card is made for
  bool ecc = false;
};

const std::vector<GpuPreset>& gpu_presets();

// Faults and neighbours to inject, so tests can prove the guard survives them.
struct SimulatedFaults {
  std::optional<std::uint64_t> fail_at_allocation;  // the Nth allocation (1-based, GPU or pinned) fails
  std::optional<std::uint64_t> fail_above_bytes;    // a GPU allocation taking our use past this fails
  std::optional<std::uint64_t> fail_at_step;        // the Nth step (1-based) runs out of memory once
  struct OtherProcess {
    std::uint64_t after_allocations = 0;  // it starts once we have made this many allocations
    int gpu = 0;
    std::uint64_t bytes = 0;
  };
  std::optional<OtherProcess> other_process;  // another program taking memory mid-load
  // Programs on a GPU (doctor, fix): one with a pid holds its bytes while that real process lives
  // (tests start real children); pid 0 holds them for good.
  std::vector<std::pair<int, GpuProcess>> processes_at_start;
  // Memory other programs hold on a GPU over time (monitor): from `seconds` after the runtime was made,
  // `bytes` on `gpu`, until the next change on that GPU.
  struct UsageChange {
    int gpu = 0;
    double seconds = 0;
    std::uint64_t bytes = 0;
    // Instead of a time: from when this file exists (what a test creates at the moment it chooses);
    // such a change comes after every timed one.
    std::optional<std::filesystem::path> once_exists;
  };
  std::vector<UsageChange> usage;
  // The link a GPU runs at (doctor's link check): generation and width, below what the card is made for.
  struct Link {
    int gpu = 0;
    unsigned int generation = 4, width = 16;
  };
  std::vector<Link> links;
  std::vector<int> mig;               // GPUs with MIG enabled
  bool registration_refused = false;  // register_host refuses, as without root or memlock
};

class SimulatedRuntime final : public DeviceRuntime {
 public:
  // Throws UsageError for a spec it cannot read, showing the accepted forms. `host_bytes` is the
  // pinned host memory there is to allocate. With `keep_data`, every block holds real bytes in host
  // memory (pages are taken only as they are written), so that --verify-data can read them back and
  // models can run on the CPU in the GPUs' place; otherwise only the accounting is real.
  explicit SimulatedRuntime(const std::string& spec, std::uint64_t host_bytes = 0, SimulatedFaults faults = {},
                            bool keep_data = false);
  ~SimulatedRuntime() override;

  std::string name() const override { return "simulated"; }
  std::vector<DeviceInfo> probe_gpus() override;
  bool can_register_host_memory() override;
  std::unique_ptr<MemoryBlock> allocate_device(int gpu, std::uint64_t bytes) override;
  std::unique_ptr<MemoryBlock> allocate_pinned(std::uint64_t bytes) override;
  void upload(MemoryBlock& destination, std::uint64_t offset, const UploadSource& source) override;
  void stage(MemoryBlock& destination, std::uint64_t offset, const UploadSource& source) override;
  void synchronize() override {}
  void read_back(const MemoryBlock& block, std::uint64_t offset, std::uint64_t bytes, unsigned char* out) override;
  std::unique_ptr<HostRegistration> register_host(const void* begin, std::uint64_t bytes) override;
  std::unique_ptr<StreamLane> open_lane(int gpu, int slots) override;
  std::unique_ptr<ComputeClock> open_clock(int gpu) override;
  void reset_peak(int gpu) override;
  void release_cached() override {}
  void limit_process(int gpu, std::uint64_t bytes) override;
  MemorySnapshot snapshot(int gpu) override;
  std::string allocator_settings() const override { return "simulated (exact accounting, no cache)"; }
  std::vector<GpuProcess> other_processes(int gpu) override;
  std::optional<NvmlFacts> gpu_facts(int gpu) override;
  bool blocks_on_host() const override;
  void begin_step(int gpu, std::uint64_t activation_bytes) override;
  void end_step(int gpu) override;

  // For tests: allocations made so far, live blocks and bytes, GPUs and pinned together.
  std::uint64_t allocations() const;
  std::uint64_t live_blocks() const;
  std::uint64_t live_bytes() const;
  // Makes the simulated other process give its memory back.
  void end_other_process();
  // Another program takes `bytes` on `gpu` now (or gives its memory back, with 0).
  void set_other_process(int gpu, std::uint64_t bytes);

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace vramguard
