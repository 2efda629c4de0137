// The CUDA device runtime, built only where the Torch found has CUDA, into the runtime library
// (libvramguard_runtime.so), which the CLI opens with dlopen(RTLD_LOCAL): libtorch's libraries carry
// copies of libstdc++ pieces that would otherwise interpose on the host's own. Device memory
// comes from PyTorch's caching allocator, so the loaded weights live where PyTorch code expects them,
// and the compute stream is PyTorch's current stream. The libtorch APIs that differ between versions
// (allocator statistics and settings, streams) stay in this file and in devices/cuda/.
// The parts live in devices/cuda/: support (errors, streams, the current device), the probe's
// measurements, memory blocks, the uploader, the streaming lane and the clock.
#if VRAMGUARD_TORCH_MAJOR >= 2
#include <ATen/cuda/CUDAContextLight.h>
#endif
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/util/Exception.h>
#include <cuda_runtime_api.h>

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <vector>

#include "core/errors.hpp"
#include "devices/cuda/cuda_lane.hpp"
#include "devices/cuda/cuda_memory.hpp"
#include "devices/cuda/cuda_probe.hpp"
#include "devices/cuda/cuda_support.hpp"
#include "devices/cuda/cuda_uploader.hpp"
#include "devices/cuda/cuda_warm_up.hpp"
#include "devices/device_runtime.hpp"
#include "devices/nvml_processes.hpp"
#include "devices/process_memory_sampler.hpp"
#include "logging/log.hpp"
#include "vramguard/byte_size.hpp"
#include "vramguard/cost_model.hpp"

namespace vramguard::cuda {
namespace {

class CudaRuntime final : public DeviceRuntime {
 public:
  CudaRuntime() {
    const char* conf = std::getenv("PYTORCH_CUDA_ALLOC_CONF");
    allocator_ = conf && *conf ? conf : "PyTorch defaults";
    // Outside Python nothing has initialized the caching allocator for the devices yet.
    int count = 0;
    if (cudaGetDeviceCount(&count) == cudaSuccess && count > 0) c10::cuda::CUDACachingAllocator::init(count);
    else cudaGetLastError();
  }
  ~CudaRuntime() override {
    sampler_.reset();
    uploader_.reset();
  }

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
      const DeviceScope scope(d);
      check(cudaFree(nullptr), "creating the CUDA context");  // free is only meaningful once it exists
      measure_context(d);
      cudaDeviceProp properties{};
      check(cudaGetDeviceProperties(&properties, d), "cudaGetDeviceProperties");
      std::size_t free_bytes = 0, total_bytes = 0;
      check(cudaMemGetInfo(&free_bytes, &total_bytes), "cudaMemGetInfo");
      DeviceInfo gpu;
      gpu.id = DeviceId::gpu(d);
      gpu.description = std::string(properties.name) + " (compute capability " + std::to_string(properties.major) +
                        "." + std::to_string(properties.minor) + ")";
      gpu.total_bytes = total_bytes;
      // Memory our allocator caches is ours to reuse: count it as free.
      gpu.free_bytes = free_bytes + cached(d);
      const auto context = contexts_.find(d);
      gpu.context_measured = context != contexts_.end() && context->second > 0;
      gpu.context_bytes = gpu.context_measured ? context->second : default_cost_constants().assumed_cuda_context_bytes;
      gpu.compute_flops_per_s = peak_flops(properties.name);
      gpu.fp8_compute_flops_per_s = fp8_flops_per_s(properties.major, properties.minor, gpu.compute_flops_per_s);
      gpu.memory_bytes_per_s = memory_bandwidth(d);
      gpu.host_to_device_bytes_per_s = measure_host_to_device(d);
      gpus.push_back(gpu);
    }
    gpu_count_ = count;
    if (!sampler_) {
      std::vector<std::string> buses;
      for (int d = 0; d < count; ++d) buses.push_back(bus_id(d));
      sampler_ = std::make_unique<ProcessMemorySampler>(
          [buses](int gpu) {
            const std::string& bus = buses.at(static_cast<std::size_t>(gpu));
            return bus.empty() ? std::uint64_t{0} : nvml_own_bytes(bus);
          },
          count);
    }
    return gpus;
  }

  bool can_register_host_memory() override {
    if (registration_probed_) return registration_allowed_;
    registration_probed_ = true;
    int supported = 0, read_only = 0;
    cudaDeviceGetAttribute(&supported, cudaDevAttrHostRegisterSupported, 0);
    cudaDeviceGetAttribute(&read_only, cudaDevAttrHostRegisterReadOnlySupported, 0);
    cudaGetLastError();
    if (!supported || !read_only) return registration_allowed_ = false;
    // Permission (root, or a memlock limit) shows only by trying: register 2 MiB of our own, read-only.
    constexpr std::size_t bytes = 2ULL << 20;
    void* probe = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (probe == MAP_FAILED) return registration_allowed_ = false;
    std::memset(probe, 0, bytes);
    const cudaError_t status = cudaHostRegister(probe, bytes, cudaHostRegisterReadOnly | cudaHostRegisterPortable);
    if (status == cudaSuccess) cudaHostUnregister(probe);
    else log::debug("registering host memory with the driver is refused here: ", cudaGetErrorString(status));
    cudaGetLastError();
    ::munmap(probe, bytes);
    return registration_allowed_ = status == cudaSuccess;
  }

  void prepare_transfers() override { uploader(); }

  std::unique_ptr<MemoryBlock> allocate_device(int gpu, std::uint64_t bytes) override {
    const DeviceScope scope(gpu);
    void* data = nullptr;
    try {
      data = c10::cuda::CUDACachingAllocator::raw_alloc(bytes);
    } catch (const c10::OutOfMemoryError&) {
      std::size_t free_bytes = 0, total_bytes = 0;
      cudaMemGetInfo(&free_bytes, &total_bytes);
      throw OutOfMemory(DeviceId::gpu(gpu), bytes, free_bytes + cached(gpu), "CUDA caching allocator");
    } catch (const c10::Error& e) {
      throw JobError("allocating " + format_bytes(bytes) + " on cuda:" + std::to_string(gpu) +
                     " failed: " + e.what_without_backtrace());
    }
    return std::make_unique<CudaBlock>(gpu, data, bytes);
  }

  std::unique_ptr<MemoryBlock> allocate_pinned(std::uint64_t bytes) override {
    void* data = nullptr;
    if (cudaHostAlloc(&data, bytes, cudaHostAllocPortable) == cudaSuccess)
      return std::make_unique<HostBlock>(data, bytes, true);
    cudaGetLastError();  // clear it: pinning failing is not a CUDA error state we keep
    data = std::malloc(bytes);
    if (data == nullptr) throw OutOfMemory(DeviceId::host(), bytes, 0, "host memory");
    if (!warned_pageable_) {
      log::warn("could not pin ", format_bytes(bytes),
                " of host memory (ulimit -l, or RAM is short); using pageable memory, "
                "which copies to the GPU several times slower");
      warned_pageable_ = true;
    }
    return std::make_unique<HostBlock>(data, bytes, false);
  }

  void upload(MemoryBlock& destination, std::uint64_t offset, const UploadSource& source) override {
    auto& block = static_cast<CudaBlock&>(destination);
    uploader().upload(block.gpu(), static_cast<unsigned char*>(block.data()) + offset, source);
  }

  void stage(MemoryBlock& destination, std::uint64_t offset, const UploadSource& source) override {
    uploader().upload(-1, static_cast<unsigned char*>(destination.data()) + offset, source);
  }

  void synchronize() override {
    if (uploader_) uploader_->synchronize();
  }

  std::uint64_t bytes_uploaded_from_mapping() const override { return uploader_ ? uploader_->bytes_from_mapping() : 0; }

  void read_back(const MemoryBlock& block, std::uint64_t offset, std::uint64_t bytes, unsigned char* out) override {
    if (const auto* gpu = dynamic_cast<const CudaBlock*>(&block)) {
      const DeviceScope scope(gpu->gpu());
      check(cudaMemcpy(out, static_cast<const unsigned char*>(gpu->data()) + offset, bytes, cudaMemcpyDeviceToHost),
            "reading back from the GPU");
      return;
    }
    std::memcpy(out, static_cast<const unsigned char*>(block.data()) + offset, bytes);
  }

  std::unique_ptr<HostRegistration> register_host(const void* begin, std::uint64_t bytes) override {
    void* address = const_cast<void*>(begin);
    const cudaError_t status = cudaHostRegister(address, bytes, cudaHostRegisterReadOnly | cudaHostRegisterPortable);
    if (status != cudaSuccess) {
      cudaGetLastError();
      throw RegistrationRefused(std::string(cudaGetErrorString(status)) + " (registering " + format_bytes(bytes) + ")");
    }
    return std::make_unique<CudaRegistration>(address);
  }

  std::unique_ptr<StreamLane> open_lane(int gpu, int slots) override { return cuda::open_lane(gpu, slots); }
  std::unique_ptr<ComputeClock> open_clock(int gpu) override { return cuda::open_clock(gpu); }

  void finish_compute(int gpu) override {
    const DeviceScope device(gpu);
    check(cudaStreamSynchronize(compute_stream(gpu)), "waiting for the compute stream");
  }

  void reset_peak(int gpu) override {
    c10::cuda::CUDACachingAllocator::resetPeakStats(static_cast<c10::DeviceIndex>(gpu));
    if (sampler_) sampler_->reset(gpu);
    apply_process_limit(gpu);  // a step begins: the context may have grown since the limit was set
  }

  double cache_slack_fraction() const override { return default_cost_constants().cache_slack_fraction; }

  void limit_process(int gpu, std::uint64_t bytes) override {
    limits_[gpu] = bytes;
    apply_process_limit(gpu);
  }

  void release_cached() override {
    for (int g = 0; g < gpu_count_; ++g) {
      const DeviceScope scope(g);
      check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
    }
#if VRAMGUARD_TORCH_MAJOR >= 2
    at::cuda::clearCublasWorkspaces();  // they live in the allocator and would outlast the model by 33 MiB
#endif
    c10::cuda::CUDACachingAllocator::emptyCache();
  }

  MemorySnapshot snapshot(int gpu) override {
    const DeviceScope scope(gpu);
    std::size_t free_bytes = 0, total_bytes = 0;
    check(cudaMemGetInfo(&free_bytes, &total_bytes), "cudaMemGetInfo");
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(static_cast<c10::DeviceIndex>(gpu));
    // Index 0 is the aggregate over pools (StatType::AGGREGATE). Allocated bytes are ours: the blocks
    // the loader made and whatever PyTorch code running here allocates (a step's activations).
    const auto reserved = static_cast<std::uint64_t>(stats.reserved_bytes[0].current);
    const auto allocated = static_cast<std::uint64_t>(stats.allocated_bytes[0].current);
    MemorySnapshot snap;
    snap.device = DeviceId::gpu(gpu);
    snap.total = total_bytes;
    snap.free = free_bytes;
    snap.ours_in_use = allocated;
    snap.peak_in_use = static_cast<std::uint64_t>(stats.allocated_bytes[0].peak);
    snap.ours_cached = reserved > allocated ? reserved - allocated : 0;
    snap.reserved_peak = static_cast<std::uint64_t>(stats.reserved_bytes[0].peak);
    snap.allocator_retries = static_cast<std::uint64_t>(stats.num_alloc_retries);
    if (sampler_ && gpu < gpu_count_) snap.process_peak = sampler_->peak(gpu);
    if (const auto limit = limits_.find(gpu); limit != limits_.end()) snap.process_limit = limit->second;
    const auto context = contexts_.find(gpu);
    const std::uint64_t accounted =
        free_bytes + reserved +
        (context != contexts_.end() && context->second > 0 ? context->second
                                                           : default_cost_constants().assumed_cuda_context_bytes);
    snap.others = total_bytes > accounted ? total_bytes - accounted : 0;
    if (const std::string bus = bus_id(gpu); !bus.empty()) snap.process_total = nvml_own_bytes(bus);
    // What NVML says this process holds is the better figure: the context grows as a first pass loads
    // kernels and library handles, which the estimate above would count as another process's.
    if (snap.process_total > 0) {
      const std::uint64_t ours = free_bytes + snap.process_total;
      snap.others = total_bytes > ours ? total_bytes - ours : 0;
    }
    return snap;
  }

  std::string allocator_settings() const override { return allocator_; }

  std::string pci_bus_id(int gpu) override { return bus_id(gpu); }

  std::vector<GpuProcess> other_processes(int gpu) override {
    const std::string bus = bus_id(gpu);
    return bus.empty() ? std::vector<GpuProcess>{} : nvml_processes(bus);
  }

 private:
  // The context's size as it will be once a model runs: everything NVML sees this process hold beyond
  // what its allocator holds, after the libraries' handles and the families' kinds of kernel are
  // loaded (cuda_warm_up.hpp). 0 (unmeasured) where NVML cannot tell.
  void measure_context(int gpu) {
    if (contexts_.count(gpu)) return;
    warm_up_kernels(gpu);
    c10::cuda::CUDACachingAllocator::emptyCache();
    contexts_[gpu] = context_now(gpu);
  }

  // What the process holds on `gpu` beyond its allocator (the context, library handles, kernels, any
  // other library's own allocations), as NVML counts it; 0 where NVML cannot tell.
  std::uint64_t context_now(int gpu) {
    const std::string bus = bus_id(gpu);
    const std::uint64_t process = bus.empty() ? 0 : nvml_own_bytes(bus);
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(static_cast<c10::DeviceIndex>(gpu));
    const auto reserved = static_cast<std::uint64_t>(stats.reserved_bytes[0].current);
    return process > reserved ? process - reserved : 0;
  }

  // The allocator's share of the process limit: the limit less the context as it is now. Past it the
  // caching allocator frees its cache and retries, then raises out of memory (its memory fraction).
  void apply_process_limit(int gpu) {
    const auto limit = limits_.find(gpu);
    if (limit == limits_.end()) return;
    const DeviceScope scope(gpu);
    std::size_t free_bytes = 0, total_bytes = 0;
    check(cudaMemGetInfo(&free_bytes, &total_bytes), "cudaMemGetInfo");
    double fraction = 1.0;
    if (limit->second > 0) {
      std::uint64_t context = context_now(gpu);
      if (context == 0)
        context = contexts_.count(gpu) && contexts_[gpu] > 0 ? contexts_[gpu]
                                                             : default_cost_constants().assumed_cuda_context_bytes;
      const std::uint64_t share = limit->second > context ? limit->second - context : 0;
      fraction = std::clamp(static_cast<double>(share) / static_cast<double>(total_bytes), 1e-6, 1.0);
      log::debug("cuda:", gpu, ": the allocator may hold ", format_bytes(share), " (the process limit ",
                 format_bytes(limit->second), " less the context's ", format_bytes(context), ")");
    }
    c10::cuda::CUDACachingAllocator::setMemoryFraction(fraction, static_cast<c10::DeviceIndex>(gpu));
  }

  Uploader& uploader() {
    if (!uploader_) {
      int count = 0;
      check(cudaGetDeviceCount(&count), "cudaGetDeviceCount");
      uploader_ = make_uploader(count);
    }
    return *uploader_;
  }

  std::uint64_t cached(int gpu) {
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(static_cast<c10::DeviceIndex>(gpu));
    const auto reserved = static_cast<std::uint64_t>(stats.reserved_bytes[0].current);
    const auto allocated = static_cast<std::uint64_t>(stats.allocated_bytes[0].current);
    return reserved > allocated ? reserved - allocated : 0;
  }

  std::string allocator_;
  int gpu_count_ = 0;
  bool warned_pageable_ = false;
  bool registration_probed_ = false;
  bool registration_allowed_ = false;
  std::map<int, std::uint64_t> contexts_;
  std::map<int, std::uint64_t> limits_;  // limit_process, per GPU (0: none)
  std::unique_ptr<Uploader> uploader_;
  std::unique_ptr<ProcessMemorySampler> sampler_;  // NVML's view of this process, at 50 Hz
};

}  // namespace
}  // namespace vramguard::cuda

// The factory declared (weak) in devices/device_runtime.hpp: defined here, in the runtime library only.
extern "C" vramguard::DeviceRuntime* vramguard_create_cuda_runtime(int log_level) {
  vramguard::log::set_level(static_cast<vramguard::log::Level>(log_level));
  return new vramguard::cuda::CudaRuntime();
}
