#pragma once
// Where GPU memory comes from, and how weights reach it. The CUDA runtime talks to real devices; the
// simulated runtime declares GPUs (a preset or a spec), keeps exact accounting against their
// capacities, can inject out-of-memory errors and, when asked, keeps real bytes in host memory so that
// models run on the CPU in its place: the whole memory-guard pipeline and the executor run on
// machines without a GPU.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "devices/device_memory.hpp"
#include "devices/nvml_processes.hpp"
#include "vramguard/device_budget.hpp"

namespace vramguard {

// A piece of a streamed unit on its way into a window slot: from host memory the GPU reads directly
// (a pinned block, or a registered mapping of the checkpoint), or from the checkpoint file through
// pinned staging buffers (reading, and converting the dtype where needed).
struct StreamPiece {
  std::uint64_t slot_offset = 0;
  const void* host = nullptr;  // set: the GPU copies `bytes` from here
  std::uint64_t bytes = 0;
  UploadSource file;  // the same bytes in the checkpoint: read (and converted) where host is unset,
                      // and what code on the CPU reads instead of a registered mapping, which a
                      // file shrinking underneath would turn into SIGBUS
};

// The streaming window of one GPU: a copy stream that fills slots ahead of the compute stream, ordered
// against it with events so that a copy never overwrites a slot still being read, and compute never
// reads a slot still being filled. Calls come from one thread (the executor's).
class StreamLane {
 public:
  virtual ~StreamLane() = default;
  // Starts filling `slot` once its last release has been passed by the compute stream; returns at once.
  virtual void fill(int slot, MemoryBlock& block, std::vector<StreamPiece> pieces) = 0;
  // The compute stream waits for the slot's fill to complete; rethrows the fill's failure.
  virtual void acquire(int slot) = 0;
  // The compute stream's work issued so far is the last to read the slot before its next fill.
  virtual void release(int slot) = 0;
  // Waits for every fill issued so far; rethrows a failure.
  virtual void synchronize() = 0;
  // Seconds the executor's thread spent waiting for fills to be issued (a fill falling behind).
  virtual double wait_seconds() const = 0;
};

// Marks on a GPU's compute stream, to time what ran between two of them without waiting for copies
// that stream waits on: CUDA events there; on the simulated runtime, where the CPU computes, the clock.
class ComputeClock {
 public:
  virtual ~ComputeClock() = default;
  virtual int mark() = 0;                                // records a mark now (in stream order)
  virtual double seconds_between(int from, int to) = 0;  // waits for both marks
  virtual void clear() = 0;                              // forgets every mark
};

// Host memory made readable by the GPU in place (cudaHostRegister, read-only), released when destroyed.
class HostRegistration {
 public:
  virtual ~HostRegistration() = default;
};

// The runtime refused to register host memory (no support, a memlock limit, not root...).
class RegistrationRefused : public JobError {
 public:
  explicit RegistrationRefused(const std::string& why)
      : JobError("the checkpoint could not be registered with the GPU driver: " + why,
                 "streamed weights are copied into pinned memory instead; running as root or raising `ulimit -l` "
                 "allows registration") {}
};

class DeviceRuntime {
 public:
  virtual ~DeviceRuntime() = default;
  virtual std::string name() const = 0;  // "cuda", "simulated"
  // The GPUs, with total and free bytes measured now (free after the CUDA context exists), the
  // context's size, and host→device bandwidth (measured once and cached, or declared).
  virtual std::vector<DeviceInfo> probe_gpus() = 0;
  // The GPU's PCI bus id ("0000:65:00.0") for NVML; empty where there is none (simulated).
  virtual std::string pci_bus_id(int /*gpu*/) { return {}; }
  // What doctor reports beyond memory: compute capability, driver and CUDA versions, the PCIe link, ECC
  // and MIG (NVML's figures for a real GPU, declared ones for a simulated GPU); nullopt without them.
  virtual std::optional<NvmlFacts> gpu_facts(int gpu) { return nvml_facts(pci_bus_id(gpu)); }
  // Whether register_host can work here (probed once).
  virtual bool can_register_host_memory() = 0;

  // Readies whatever copying needs (staging buffers, streams, threads), so that a timed load does not
  // pay for it; planning never calls it.
  virtual void prepare_transfers() {}
  // Throws OutOfMemory when the block does not fit.
  virtual std::unique_ptr<MemoryBlock> allocate_device(int gpu, std::uint64_t bytes) = 0;
  // Pinned host memory (pageable, with a warning, where pinning is refused); throws OutOfMemory.
  virtual std::unique_ptr<MemoryBlock> allocate_pinned(std::uint64_t bytes) = 0;
  // Reads, converts and copies one tensor into a device block at `offset`; may return before the copy ends.
  virtual void upload(MemoryBlock& destination, std::uint64_t offset, const UploadSource& source) = 0;
  // Reads and converts into host memory (a pinned block) at `offset`; may return before it ends.
  virtual void stage(MemoryBlock& destination, std::uint64_t offset, const UploadSource& source) = 0;
  // Waits for every upload and stage issued so far; rethrows a copy's failure.
  virtual void synchronize() = 0;
  // Bytes uploads have copied straight from registered checkpoint pages so far (UploadSource::mapping).
  virtual std::uint64_t bytes_uploaded_from_mapping() const { return 0; }
  // Reads `bytes` at `offset` of a block back into `out` (for --verify-data).
  virtual void read_back(const MemoryBlock& block, std::uint64_t offset, std::uint64_t bytes, unsigned char* out) = 0;
  // Registers `bytes` of mapped memory at `begin` (page-aligned) for direct copies; throws
  // RegistrationRefused when it cannot.
  virtual std::unique_ptr<HostRegistration> register_host(const void* begin, std::uint64_t bytes) = 0;
  // The streaming window of `gpu`, with `slots` slots.
  virtual std::unique_ptr<StreamLane> open_lane(int gpu, int slots) = 0;
  virtual std::unique_ptr<ComputeClock> open_clock(int gpu) = 0;
  // Waits until the compute stream of `gpu` has finished everything issued to it.
  virtual void finish_compute(int gpu) { (void)gpu; }
  // Starts a new peak for snapshot(gpu).peak_in_use.
  virtual void reset_peak(int gpu) = 0;
  // Returns cached, unused memory to the device (the caching allocator's empty_cache).
  virtual void release_cached() = 0;
  // Keeps everything this process holds on `gpu` — the context, and all its allocator holds in use or
  // cached — within `bytes` as the driver counts it (0: no limit). Past it the allocator releases its
  // cache, then fails as out of memory, which the guard handles: a cap holds as nvidia-smi shows it.
  virtual void limit_process(int gpu, std::uint64_t bytes) = 0;
  // The share of a step's activations its allocator's cache holds beyond them (cache_slack_fraction
  // for PyTorch's caching allocator; 0 where accounting is exact).
  virtual double cache_slack_fraction() const { return 0; }
  virtual MemorySnapshot snapshot(int gpu) = 0;
  // The allocator settings in effect (e.g. "expandable_segments:True"), for the report.
  virtual std::string allocator_settings() const = 0;
  // Other processes holding memory on the GPU (best effort: empty where NVML is missing).
  virtual std::vector<GpuProcess> other_processes(int gpu) = 0;
  // Whether blocks hold real bytes that host code can compute with (the simulated runtime when asked).
  virtual bool blocks_on_host() const { return false; }
  // A step on `gpu` needs about `activation_bytes` beside the weights until end_step. A real GPU's
  // allocator fails by itself when they do not fit; the simulated runtime accounts them, so that memory
  // taken by another program mid-run shows as an out-of-memory in the step, as it would on a card.
  virtual void begin_step(int gpu, std::uint64_t activation_bytes) { (void)gpu, (void)activation_bytes; }
  virtual void end_step(int gpu) { (void)gpu; }
};

// Whether a GPU of compute capability `major`.`minor` has fp8 tensor cores: Ada and Hopper on (8.9 and later).
inline bool has_fp8_tensor_cores(int major, int minor) { return major > 8 || (major == 8 && minor >= 9); }

// Dense fp8 tensor FLOP/s of a GPU of compute capability `major`.`minor` whose dense bf16 rate is
// `bf16_flops_per_s`: twice it where it has fp8 tensor cores, none elsewhere.
inline double fp8_flops_per_s(int major, int minor, double bf16_flops_per_s) {
  return has_fp8_tensor_cores(major, minor) ? 2 * bf16_flops_per_s : 0;
}

// The device runtime's interface version: bump it with any change to DeviceRuntime, StreamLane or
// HostRegistration's virtual functions. The runtime library (which holds the CUDA runtime) exports it
// with the layout fingerprint below, and the CLI refuses a library whose figures differ from its own.
inline constexpr int kDeviceRuntimeInterfaceVersion = 4;
std::uint64_t device_runtime_layout_fingerprint();

// The CUDA runtime: compiled into the runtime library on a CUDA build, and reached by the CLI through
// that library's interface (host/run/runtime_library.cpp). nullptr where this build has none. Throws
// JobError when the library, the driver or the devices cannot be used.
std::unique_ptr<DeviceRuntime> make_cuda_runtime();

}  // namespace vramguard

// The CUDA runtime's factory (host/devices/cuda_runtime.cpp), defined only where that file is compiled
// in — the runtime library of a CUDA build. Elsewhere (the CLI) this weak reference stays null, and
// make_cuda_runtime asks the runtime library for its factory instead. The caller owns what it returns.
extern "C" vramguard::DeviceRuntime* vramguard_create_cuda_runtime(int log_level) __attribute__((weak));
