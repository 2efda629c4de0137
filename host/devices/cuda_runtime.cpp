// The CUDA device runtime, built only where the Torch found has CUDA, as a module of its own
// (libvramguard_cuda_runtime.so) that the host opens with dlopen(RTLD_LOCAL): libtorch's libraries
// carry copies of libstdc++ pieces that would otherwise interpose on the host's own. Device memory
// comes from PyTorch's caching allocator, so the loaded weights live where PyTorch code expects them.
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/util/Exception.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <condition_variable>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include <unistd.h>

#include "core/errors.hpp"
#include "devices/device_runtime.hpp"
#include "devices/nvml_processes.hpp"
#include "core/dtype_conversion.hpp"
#include "logging/log.hpp"
#include "vramguard/byte_size.hpp"
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

class CudaRuntime;

// One allocation from PyTorch's caching allocator, on one device.
class CudaBlock final : public MemoryBlock {
 public:
  CudaBlock(CudaRuntime& runtime, int gpu, void* data, std::uint64_t bytes);
  ~CudaBlock() override;
  std::uint64_t size() const override { return bytes_; }
  const std::string& device() const override { return device_; }
  unsigned char* data() const { return static_cast<unsigned char*>(data_); }
  int gpu() const { return gpu_; }

 private:
  CudaRuntime& runtime_;
  int gpu_;
  void* data_;
  std::uint64_t bytes_;
  std::string device_;
};

// Host memory for streamed weights: pinned when the OS allows it, pageable otherwise.
class HostBlock final : public MemoryBlock {
 public:
  HostBlock(void* data, std::uint64_t bytes, bool pinned) : data_(data), bytes_(bytes), pinned_(pinned) {}
  ~HostBlock() override {
    if (pinned_) cudaFreeHost(data_);
    else std::free(data_);
  }
  std::uint64_t size() const override { return bytes_; }
  const std::string& device() const override { return device_; }
  bool pinned() const override { return pinned_; }
  unsigned char* data() const { return static_cast<unsigned char*>(data_); }

 private:
  void* data_;
  std::uint64_t bytes_;
  bool pinned_;
  std::string device_ = "cpu";
};

// Copies from the mapped checkpoint to the GPUs: reader threads convert chunks into a ring of pinned
// staging buffers while copy streams move the previous chunks to the devices, so reading and the
// PCIe transfer overlap.
class Uploader {
 public:
  static constexpr std::uint64_t kSlotBytes = 32ULL << 20;

  explicit Uploader(int gpus) {
    // Enough readers to keep the copy engine fed from the page cache: one core reads ~3-5 GB/s there
    // (H200 machine: 4 threads 18.8 GB/s, 12 threads 35.1, 16 threads 37.9).
    workers_ = std::max(4u, std::min(16u, std::thread::hardware_concurrency()));
    for (int g = 0; g < gpus; ++g) {
      check(cudaSetDevice(g), "cudaSetDevice");
      for (int s = 0; s < 2; ++s) {
        cudaStream_t stream{};
        check(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "creating a copy stream");
        streams_[g].push_back(stream);
      }
    }
    for (unsigned i = 0; i < workers_ * 2; ++i) {
      Slot slot;
      check(cudaHostAlloc(&slot.host, kSlotBytes, cudaHostAllocPortable), "pinning a staging buffer");
      check(cudaEventCreateWithFlags(&slot.done, cudaEventDisableTiming), "creating an event");
      slots_.push_back(slot);
    }
    for (unsigned i = 0; i < workers_; ++i) threads_.emplace_back([this, i] { work(i); });
  }

  ~Uploader() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (auto& t : threads_) t.join();
    for (auto& [g, streams] : streams_)
      for (auto stream : streams) {
        cudaStreamSynchronize(stream);
        cudaStreamDestroy(stream);
      }
    for (auto& slot : slots_) {
      cudaEventSynchronize(slot.done);
      cudaEventDestroy(slot.done);
      cudaFreeHost(slot.host);
    }
  }

  // gpu < 0: `destination` is host memory, filled directly (no staging, no copy engine).
  void upload(int gpu, unsigned char* destination, const UploadSource& source) {
    const unsigned in = dtype_bits(source.from) / 8, out = dtype_bits(source.to) / 8;
    const std::uint64_t per_chunk = std::max<std::uint64_t>(1, kSlotBytes / std::max(in, out));
    std::lock_guard lock(mutex_);
    for (std::uint64_t first = 0; first < source.elements; first += per_chunk) {
      const std::uint64_t n = std::min(per_chunk, source.elements - first);
      queue_.push_back({gpu, destination + first * out,
                        {source.data + first * in, n, source.from, source.to, source.file, source.file_offset + first * in}});
      ++pending_;
    }
    wake_.notify_all();
  }

  void synchronize() {
    std::unique_lock lock(mutex_);
    idle_.wait(lock, [this] { return pending_ == 0; });
    for (auto& [g, streams] : streams_)
      for (auto stream : streams) check(cudaStreamSynchronize(stream), "waiting for copies");
    if (!error_.empty()) {
      const std::string error = error_;
      error_.clear();
      throw JobError("a copy to the GPU failed: " + error);
    }
  }

 private:
  struct Chunk {
    int gpu;
    unsigned char* destination;
    UploadSource source;
  };
  struct Slot {
    void* host = nullptr;
    cudaEvent_t done{};
  };

  void work(unsigned index) {
    while (true) {
      Chunk chunk;
      std::size_t slot_index;
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;
        chunk = queue_.front();
        queue_.pop_front();
        slot_index = next_slot_++ % slots_.size();
      }
      Slot& slot = slots_[slot_index];
      try {
        if (chunk.gpu < 0) {
          fill(chunk.destination, chunk.source);
          std::lock_guard lock(mutex_);
          if (--pending_ == 0) idle_.notify_all();
          continue;
        }
        // The slot's previous copy must be done before we overwrite it.
        std::lock_guard slot_lock(slot_mutex_[slot_index % slot_mutex_.size()]);
        check(cudaEventSynchronize(slot.done), "waiting for a staging buffer");
        fill(static_cast<unsigned char*>(slot.host), chunk.source);
        check(cudaSetDevice(chunk.gpu), "cudaSetDevice");
        cudaStream_t stream = streams_[chunk.gpu][index % streams_[chunk.gpu].size()];
        const std::uint64_t bytes = chunk.source.elements * dtype_bits(chunk.source.to) / 8;
        check(cudaMemcpyAsync(chunk.destination, slot.host, bytes, cudaMemcpyHostToDevice, stream), "cudaMemcpyAsync");
        check(cudaEventRecord(slot.done, stream), "cudaEventRecord");
      } catch (const std::exception& e) {
        std::lock_guard lock(mutex_);
        if (error_.empty()) error_ = e.what();
      }
      std::lock_guard lock(mutex_);
      if (--pending_ == 0) idle_.notify_all();
    }
  }

  // Equal dtypes are read with pread straight from the page cache (no page faults in our mapping,
  // which serialize threads); conversions read the mapping.
  static void fill(unsigned char* destination, const UploadSource& source) {
    const std::uint64_t bytes = source.elements * dtype_bits(source.to) / 8;
    if (source.from != source.to || source.file < 0) {
      convert_elements(source.data, source.from, destination, source.to, source.elements);
      return;
    }
    std::uint64_t done = 0;
    while (done < bytes) {
      const ssize_t n = ::pread(source.file, destination + done, bytes - done, static_cast<off_t>(source.file_offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw JobError(std::string("reading the checkpoint failed: ") + (n < 0 ? std::strerror(errno) : "unexpected end of file"));
      done += static_cast<std::uint64_t>(n);
    }
  }

  unsigned workers_ = 2;
  std::map<int, std::vector<cudaStream_t>> streams_;
  std::vector<Slot> slots_;
  std::array<std::mutex, 64> slot_mutex_;
  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::condition_variable wake_, idle_;
  std::deque<Chunk> queue_;
  std::uint64_t pending_ = 0;
  std::uint64_t next_slot_ = 0;
  bool stopping_ = false;
  std::string error_;
};

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
  ~CudaRuntime() override { uploader_.reset(); }

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
      // Memory our allocator caches is ours to reuse: count it as free.
      gpu.free_bytes = free_bytes + cached(d);
      gpu.context_bytes = default_cost_constants().cuda_context_bytes;
      gpu.compute_flops = peak_flops(properties.name);
      gpu.host_to_device_bytes_per_s = measure_host_to_device(d);
      gpus.push_back(gpu);
    }
    gpu_count_ = count;
    return gpus;
  }

  void prepare_transfers() override { uploader(); }

  std::unique_ptr<MemoryBlock> allocate_device(int gpu, std::uint64_t bytes) override {
    check(cudaSetDevice(gpu), "cudaSetDevice");
    void* data = nullptr;
    try {
      data = c10::cuda::CUDACachingAllocator::raw_alloc(bytes);
    } catch (const c10::OutOfMemoryError& e) {
      std::size_t free_bytes = 0, total_bytes = 0;
      cudaMemGetInfo(&free_bytes, &total_bytes);
      throw OutOfMemory("cuda:" + std::to_string(gpu), bytes, free_bytes + cached(gpu), "CUDA caching allocator");
    } catch (const c10::Error& e) {
      throw JobError("allocating " + format_bytes(bytes) + " on cuda:" + std::to_string(gpu) + " failed: " + e.what_without_backtrace());
    }
    return std::make_unique<CudaBlock>(*this, gpu, data, bytes);
  }

  std::unique_ptr<MemoryBlock> allocate_pinned(std::uint64_t bytes) override {
    void* data = nullptr;
    if (cudaHostAlloc(&data, bytes, cudaHostAllocPortable) == cudaSuccess) return std::make_unique<HostBlock>(data, bytes, true);
    cudaGetLastError();  // clear it: pinning failing is not a CUDA error state we keep
    data = std::malloc(bytes);
    if (data == nullptr) throw OutOfMemory("cpu", bytes, 0, "host memory");
    if (!warned_pageable_) {
      log::warn("could not pin ", format_bytes(bytes), " of host memory (ulimit -l, or RAM is short); using pageable memory, "
                "which copies to the GPU several times slower");
      warned_pageable_ = true;
    }
    return std::make_unique<HostBlock>(data, bytes, false);
  }

  void upload(MemoryBlock& destination, std::uint64_t offset, const UploadSource& source) override {
    auto& block = static_cast<CudaBlock&>(destination);
    uploader().upload(block.gpu(), block.data() + offset, source);
  }

  void stage(MemoryBlock& destination, std::uint64_t offset, const UploadSource& source) override {
    auto& block = static_cast<HostBlock&>(destination);
    uploader().upload(-1, block.data() + offset, source);
  }

  void synchronize() override {
    if (uploader_) uploader_->synchronize();
  }

  void read_back(const MemoryBlock& block, std::uint64_t offset, std::uint64_t bytes, unsigned char* out) override {
    if (const auto* gpu = dynamic_cast<const CudaBlock*>(&block)) {
      check(cudaSetDevice(gpu->gpu()), "cudaSetDevice");
      check(cudaMemcpy(out, gpu->data() + offset, bytes, cudaMemcpyDeviceToHost), "reading back from the GPU");
      return;
    }
    const auto& host = static_cast<const HostBlock&>(block);
    std::memcpy(out, host.data() + offset, bytes);
  }

  void release_cached() override {
    for (int g = 0; g < gpu_count_; ++g) {
      check(cudaSetDevice(g), "cudaSetDevice");
      check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
    }
    c10::cuda::CUDACachingAllocator::emptyCache();
  }

  MemorySnapshot snapshot(int gpu) override {
    check(cudaSetDevice(gpu), "cudaSetDevice");
    std::size_t free_bytes = 0, total_bytes = 0;
    check(cudaMemGetInfo(&free_bytes, &total_bytes), "cudaMemGetInfo");
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(static_cast<c10::DeviceIndex>(gpu));
    // Index 0 is the aggregate over pools (StatType::AGGREGATE).
    const auto reserved = static_cast<std::uint64_t>(stats.reserved_bytes[0].current);
    const auto allocated = static_cast<std::uint64_t>(stats.allocated_bytes[0].current);
    MemorySnapshot snap;
    snap.device = "cuda:" + std::to_string(gpu);
    snap.total = total_bytes;
    snap.free = free_bytes;
    snap.ours_in_use = ours_[gpu];
    snap.ours_cached = reserved > allocated ? reserved - allocated : 0;
    const std::uint64_t accounted = free_bytes + reserved + default_cost_constants().cuda_context_bytes;
    snap.others = total_bytes > accounted ? total_bytes - accounted : 0;
    char bus[32] = {};
    if (cudaDeviceGetPCIBusId(bus, sizeof bus, gpu) == cudaSuccess) snap.process_total = nvml_own_bytes(bus);
    return snap;
  }

  std::string allocator_settings() const override { return allocator_; }

  std::vector<GpuProcess> other_processes(int gpu) override {
    char bus[32] = {};
    if (cudaDeviceGetPCIBusId(bus, sizeof bus, gpu) != cudaSuccess) return {};
    return nvml_processes(bus);
  }

  void account(int gpu, std::int64_t bytes) { ours_[gpu] = static_cast<std::uint64_t>(static_cast<std::int64_t>(ours_[gpu]) + bytes); }

 private:
  Uploader& uploader() {
    if (!uploader_) {
      int count = 0;
      check(cudaGetDeviceCount(&count), "cudaGetDeviceCount");
      uploader_ = std::make_unique<Uploader>(count);
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
  std::map<int, std::uint64_t> ours_;
  std::unique_ptr<Uploader> uploader_;
};

CudaBlock::CudaBlock(CudaRuntime& runtime, int gpu, void* data, std::uint64_t bytes)
    : runtime_(runtime), gpu_(gpu), data_(data), bytes_(bytes), device_("cuda:" + std::to_string(gpu)) {
  runtime_.account(gpu_, static_cast<std::int64_t>(bytes_));
}

CudaBlock::~CudaBlock() {
  cudaSetDevice(gpu_);
  c10::cuda::CUDACachingAllocator::raw_delete(data_);
  runtime_.account(gpu_, -static_cast<std::int64_t>(bytes_));
}

}  // namespace

}  // namespace vramguard

// The module's one entry point; the host owns the object it returns.
extern "C" __attribute__((visibility("default"))) vramguard::DeviceRuntime* vramguard_create_cuda_runtime(int log_level) {
  vramguard::log::set_level(static_cast<vramguard::log::Level>(log_level));
  return new vramguard::CudaRuntime();
}
