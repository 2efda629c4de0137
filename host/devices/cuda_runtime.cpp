// The CUDA device runtime, built only where the Torch found has CUDA, into the runtime library
// (libvramguard_runtime.so), which the CLI opens with dlopen(RTLD_LOCAL): libtorch's libraries carry
// copies of libstdc++ pieces that would otherwise interpose on the host's own. Device memory
// comes from PyTorch's caching allocator, so the loaded weights live where PyTorch code expects them,
// and the compute stream is PyTorch's current stream. The libtorch APIs that differ between versions
// (allocator statistics and settings, streams) stay in this file.
#if VRAMGUARD_TORCH_MAJOR >= 2
#include <ATen/cuda/CUDAContextLight.h>
#endif
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/util/Exception.h>
#include <cuda_runtime_api.h>

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "core/errors.hpp"
#include "core/tensor_read.hpp"
#include "devices/device_runtime.hpp"
#include "devices/nvml_processes.hpp"
#include "logging/log.hpp"
#include "vramguard/byte_size.hpp"
#include "vramguard/cost_model.hpp"

namespace vramguard {
namespace {

void check(cudaError_t status, const std::string& what) {
  if (status != cudaSuccess)
    throw JobError(what + " failed: " + cudaGetErrorString(status), "check the driver with nvidia-smi, and CUDA_VISIBLE_DEVICES");
}

cudaStream_t compute_stream(int gpu) { return c10::cuda::getCurrentCUDAStream(static_cast<c10::DeviceIndex>(gpu)).stream(); }

// Makes `gpu` the calling thread's current device for a scope (events belong to the device current
// when they are made and recorded), then restores the one PyTorch's code had set.
class DeviceScope {
 public:
  explicit DeviceScope(int gpu) {
    cudaGetDevice(&previous_);
    if (previous_ != gpu) check(cudaSetDevice(gpu), "cudaSetDevice");
  }
  ~DeviceScope() { cudaSetDevice(previous_); }
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;

 private:
  int previous_ = 0;
};

// Dense bf16 tensor FLOP/s by product name (vendor specifications); unknown cards get the default.
double peak_flops(const std::string& name) {
  static const std::vector<std::pair<std::string, double>> known = {
      {"H200", 989e12}, {"H100", 989e12}, {"A100", 312e12}, {"L40S", 362e12}, {"4090", 165.2e12}, {"4080", 97.5e12},
  };
  for (const auto& [key, flops] : known)
    if (name.find(key) != std::string::npos) return flops;
  return default_cost_constants().default_gpu_flops_per_s;
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

std::string bus_id(int gpu) {
  char bus[32] = {};
  if (cudaDeviceGetPCIBusId(bus, sizeof bus, gpu) != cudaSuccess) {
    cudaGetLastError();
    return {};
  }
  return bus;
}

class CudaRuntime;

// One allocation from PyTorch's caching allocator, on one device.
class CudaBlock final : public MemoryBlock {
 public:
  CudaBlock(int gpu, void* data, std::uint64_t bytes) : gpu_(gpu), data_(data), bytes_(bytes) {}
  ~CudaBlock() override {
    cudaSetDevice(gpu_);
    c10::cuda::CUDACachingAllocator::raw_delete(data_);
  }
  std::uint64_t size() const override { return bytes_; }
  DeviceId device() const override { return DeviceId::gpu(gpu_); }
  void* data() const override { return data_; }
  int gpu() const { return gpu_; }

 private:
  int gpu_;
  void* data_;
  std::uint64_t bytes_;
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
  DeviceId device() const override { return DeviceId::host(); }
  bool pinned() const override { return pinned_; }
  void* data() const override { return data_; }

 private:
  void* data_;
  std::uint64_t bytes_;
  bool pinned_;
};

// Pages of the mapped checkpoint registered for direct copies, read-only; unregistered when destroyed.
class CudaRegistration final : public HostRegistration {
 public:
  explicit CudaRegistration(void* begin) : begin_(begin) {}
  ~CudaRegistration() override { cudaHostUnregister(begin_); }

 private:
  void* begin_;
};

// Copies from the checkpoint to the GPUs at load. Reader threads read (and convert) chunks into a ring
// of pinned staging buffers while copy streams move the previous chunks, so reading and the PCIe
// transfer overlap (H200 machine: 42 GB/s of a 55 GB/s link, bounded by the copy out of the page
// cache). Where the loader allows (--upload-from registered or mixed), a chunk may instead go straight
// from the page cache: its whole pages are registered with the driver (read-only) and copied by DMA,
// no CPU copy at all; the part of a page at either end is staged, so that no page is registered
// twice. Registrations end as their copies finish; where the driver refuses one, every later chunk is
// staged. Registering chunk by chunk ran at 17-18 GB/s on the H200 machine (the driver pins pages
// one call at a time), hence staging by default and `mixed`, which runs both paths side by side.
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
    // An event can only be recorded on a stream of the device it was made on, and a staging buffer
    // serves every GPU: one event per buffer and GPU, and the buffer remembers which one it last fed.
    for (unsigned i = 0; i < workers_ * 2; ++i) {
      Slot slot;
      check(cudaHostAlloc(&slot.host, kSlotBytes, cudaHostAllocPortable), "pinning a staging buffer");
      for (int g = 0; g < gpus; ++g) {
        check(cudaSetDevice(g), "cudaSetDevice");
        cudaEvent_t event{};
        check(cudaEventCreateWithFlags(&event, cudaEventDisableTiming), "creating an event");
        slot.done.push_back(event);
      }
      slots_.push_back(std::move(slot));
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
    reap_registrations(/*wait=*/true);
    for (auto& [g, streams] : streams_)
      for (auto stream : streams) {
        cudaStreamSynchronize(stream);
        cudaStreamDestroy(stream);
      }
    for (auto& slot : slots_) {
      for (auto event : slot.done) {
        cudaEventSynchronize(event);
        cudaEventDestroy(event);
      }
      cudaFreeHost(slot.host);
    }
  }

  // gpu < 0: `destination` is host memory, filled directly (no staging, no copy engine).
  void upload(int gpu, unsigned char* destination, const UploadSource& source) {
    const unsigned in = dtype_bits(source.from) / 8, out = dtype_bits(source.to) / 8;
    const std::uint64_t per_chunk = std::max<std::uint64_t>(1, kSlotBytes / std::max(in, out));
    std::lock_guard lock(mutex_);
    for (std::uint64_t first = 0; first < source.elements; first += per_chunk) {
      UploadSource chunk = source;
      chunk.elements = std::min(per_chunk, source.elements - first);
      chunk.file_offset = source.file_offset + first * in;
      queue_.push_back({gpu, destination + first * out, chunk});
      ++pending_;
    }
    wake_.notify_all();
  }

  // Bytes copied straight from registered checkpoint pages so far.
  std::uint64_t bytes_from_mapping() const { return bytes_from_mapping_.load(); }

  void synchronize() {
    std::unique_lock lock(mutex_);
    idle_.wait(lock, [this] { return pending_ == 0; });
    for (auto& [g, streams] : streams_)
      for (auto stream : streams) check(cudaStreamSynchronize(stream), "waiting for copies");
    reap_registrations(/*wait=*/true);
    if (!error_) return;
    const std::exception_ptr error = error_;
    error_ = nullptr;
    std::rethrow_exception(error);
  }

 private:
  struct Chunk {
    int gpu;
    unsigned char* destination;
    UploadSource source;
  };
  struct Slot {
    void* host = nullptr;
    std::vector<cudaEvent_t> done;  // per GPU
    int last_gpu = -1;              // whose copy last read this buffer
  };
  struct Registration {
    void* address;
    cudaEvent_t copied;  // on the GPU whose copy reads it
    int gpu;
  };

  // Ends the registrations whose copies are done (all of them, waiting, with `wait`).
  void reap_registrations(bool wait) {
    std::lock_guard lock(registrations_mutex_);
    auto it = registrations_.begin();
    while (it != registrations_.end()) {
      const cudaError_t state = wait ? cudaEventSynchronize(it->copied) : cudaEventQuery(it->copied);
      if (state == cudaErrorNotReady) {
        ++it;
        continue;
      }
      cudaEventDestroy(it->copied);
      cudaHostUnregister(it->address);
      it = registrations_.erase(it);
    }
  }

  // Copies the page-aligned middle of `chunk` straight from its mapping; false when it must be staged
  // (too small to be worth a registration, or the driver refused).
  bool copy_registered(const Chunk& chunk, cudaStream_t stream, std::uint64_t& head, std::uint64_t& middle) {
    static const std::uint64_t page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
    const std::uint64_t begin = chunk.source.file_offset, end = begin + chunk.source.source_bytes();
    const std::uint64_t inner_begin = (begin + page - 1) / page * page, inner_end = end / page * page;
    if (!direct_allowed_.load() || inner_end <= inner_begin || inner_end - inner_begin < (1ULL << 20)) return false;
    void* address = const_cast<unsigned char*>(chunk.source.mapping) + inner_begin;
    const std::uint64_t bytes = inner_end - inner_begin;
    if (const cudaError_t status = cudaHostRegister(address, bytes, cudaHostRegisterReadOnly | cudaHostRegisterPortable);
        status != cudaSuccess) {
      cudaGetLastError();
      if (direct_allowed_.exchange(false))
        log::warn("the driver refused to register checkpoint pages (", cudaGetErrorString(status),
                  "); staging the rest of the load through pinned buffers");
      return false;
    }
    Registration registration{address, nullptr, chunk.gpu};
    check(cudaEventCreateWithFlags(&registration.copied, cudaEventDisableTiming), "creating an event");
    check(cudaMemcpyAsync(chunk.destination + (inner_begin - begin), address, bytes, cudaMemcpyHostToDevice, stream),
          "cudaMemcpyAsync");
    check(cudaEventRecord(registration.copied, stream), "cudaEventRecord");
    {
      std::lock_guard lock(registrations_mutex_);
      registrations_.push_back(registration);
    }
    bytes_from_mapping_ += bytes;
    head = inner_begin - begin;
    middle = bytes;
    return true;
  }

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
      try {
        if (chunk.gpu < 0) {
          read_tensor(chunk.source, chunk.destination);
        } else {
          // The slot's previous copy must be done before it is overwritten.
          Slot& slot = slots_[slot_index];
          std::lock_guard slot_lock(slot_mutex_[slot_index % slot_mutex_.size()]);
          if (slot.last_gpu >= 0)
            check(cudaEventSynchronize(slot.done[static_cast<std::size_t>(slot.last_gpu)]), "waiting for a staging buffer");
          check(cudaSetDevice(chunk.gpu), "cudaSetDevice");
          cudaStream_t stream = streams_[chunk.gpu][index % streams_[chunk.gpu].size()];
          std::uint64_t head = 0, middle = 0;
          const bool maps = chunk.source.every_reader_maps || index < std::max(1u, workers_ / 4);
          if (chunk.source.mapping != nullptr && chunk.source.from == chunk.source.to && maps) {
            reap_registrations(/*wait=*/false);
            copy_registered(chunk, stream, head, middle);
          }
          if (middle == 0) {
            read_tensor(chunk.source, static_cast<unsigned char*>(slot.host));
            check(cudaMemcpyAsync(chunk.destination, slot.host, chunk.source.placed_bytes(), cudaMemcpyHostToDevice, stream),
                  "cudaMemcpyAsync");
          } else {  // the partial pages at either end, staged
            auto* staged = static_cast<unsigned char*>(slot.host);
            const std::uint64_t tail = chunk.source.source_bytes() - head - middle;
            read_exact(chunk.source.file, chunk.source.file_offset, head, staged, *chunk.source.path);
            read_exact(chunk.source.file, chunk.source.file_offset + head + middle, tail, staged + head, *chunk.source.path);
            if (head > 0)
              check(cudaMemcpyAsync(chunk.destination, staged, head, cudaMemcpyHostToDevice, stream), "cudaMemcpyAsync");
            if (tail > 0)
              check(cudaMemcpyAsync(chunk.destination + head + middle, staged + head, tail, cudaMemcpyHostToDevice, stream),
                    "cudaMemcpyAsync");
          }
          check(cudaEventRecord(slot.done[static_cast<std::size_t>(chunk.gpu)], stream), "cudaEventRecord");
          slot.last_gpu = chunk.gpu;
        }
      } catch (...) {
        std::lock_guard lock(mutex_);
        if (!error_) error_ = std::current_exception();  // an InputError stays one: a shrunk file is the user's
      }
      std::lock_guard lock(mutex_);
      if (--pending_ == 0) idle_.notify_all();
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
  std::exception_ptr error_;
  std::mutex registrations_mutex_;
  std::deque<Registration> registrations_;
  std::atomic<bool> direct_allowed_{true};
  std::atomic<std::uint64_t> bytes_from_mapping_{0};
};

// One GPU's streaming window. Every fill is issued by the lane's own thread, in order, on one copy
// stream: the copy first waits (on the GPU) for the compute stream's release of the slot, then the
// pieces follow (pinned or registered memory copied directly, file pieces staged through two pinned
// buffers), then an event marks the slot filled; acquire makes the compute stream wait for that event.
class CudaLane final : public StreamLane {
 public:
  static constexpr std::uint64_t kStagingBytes = 64ULL << 20;

  CudaLane(int gpu, int slots) : gpu_(gpu), filled_(static_cast<std::size_t>(slots)), released_(static_cast<std::size_t>(slots)),
                                 requested_(static_cast<std::size_t>(slots), 0), issued_(static_cast<std::size_t>(slots), 0) {
    const DeviceScope device(gpu);
    check(cudaStreamCreateWithFlags(&copy_, cudaStreamNonBlocking), "creating a copy stream");
    for (std::size_t s = 0; s < filled_.size(); ++s) {
      check(cudaEventCreateWithFlags(&filled_[s], cudaEventDisableTiming), "creating an event");
      check(cudaEventCreateWithFlags(&released_[s], cudaEventDisableTiming), "creating an event");
    }
    thread_ = std::thread([this] { work(); });
  }

  ~CudaLane() override {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
    const DeviceScope device(gpu_);
    cudaStreamSynchronize(copy_);
    for (std::size_t s = 0; s < filled_.size(); ++s) {
      cudaEventDestroy(filled_[s]);
      cudaEventDestroy(released_[s]);
    }
    for (auto& staging : staging_) {
      if (staging.done) {
        cudaEventSynchronize(staging.done);
        cudaEventDestroy(staging.done);
      }
      if (staging.host) cudaFreeHost(staging.host);
    }
    cudaStreamDestroy(copy_);
  }

  void fill(int slot, MemoryBlock& block, std::vector<StreamPiece> pieces) override {
    const auto s = static_cast<std::size_t>(slot);
    std::lock_guard lock(mutex_);
    queue_.push_back({s, static_cast<unsigned char*>(block.data()), std::move(pieces), ++requested_[s]});
    wake_.notify_all();
  }

  void acquire(int slot) override {
    const auto s = static_cast<std::size_t>(slot);
    const auto started = std::chrono::steady_clock::now();
    std::unique_lock lock(mutex_);
    issued_signal_.wait(lock, [&] { return issued_[s] >= requested_[s] || error_; });
    waited_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    rethrow_locked();
    const DeviceScope device(gpu_);
    check(cudaStreamWaitEvent(compute_stream(gpu_), filled_[s], 0), "ordering compute after a window copy");
  }

  void release(int slot) override {
    const DeviceScope device(gpu_);
    check(cudaEventRecord(released_[static_cast<std::size_t>(slot)], compute_stream(gpu_)), "marking a window slot free");
  }

  void synchronize() override {
    std::unique_lock lock(mutex_);
    issued_signal_.wait(lock, [&] { return queue_.empty() && !busy_; });
    check(cudaStreamSynchronize(copy_), "waiting for window copies");
    rethrow_locked();
  }

  double wait_seconds() const override {
    std::lock_guard lock(mutex_);
    return waited_;
  }

 private:
  struct Fill {
    std::size_t slot;
    unsigned char* destination;
    std::vector<StreamPiece> pieces;
    std::uint64_t generation;
  };
  struct Staging {
    void* host = nullptr;
    cudaEvent_t done{};
  };

  void rethrow_locked() {
    if (!error_) return;
    const std::exception_ptr error = error_;
    error_ = nullptr;
    std::rethrow_exception(error);
  }

  void issue(const Fill& fill) {
    check(cudaStreamWaitEvent(copy_, released_[fill.slot], 0), "ordering a window copy after compute");
    for (const auto& piece : fill.pieces) {
      if (piece.host != nullptr) {
        check(cudaMemcpyAsync(fill.destination + piece.slot_offset, piece.host, piece.bytes, cudaMemcpyHostToDevice, copy_),
              "copying into a window slot");
        continue;
      }
      // From the page cache: read (and convert) a chunk at a time into a pinned buffer, then copy it.
      const unsigned in = dtype_bits(piece.file.from) / 8, out = dtype_bits(piece.file.to) / 8;
      const std::uint64_t per_chunk = std::max<std::uint64_t>(1, kStagingBytes / std::max(in, out));
      for (std::uint64_t first = 0; first < piece.file.elements; first += per_chunk) {
        Staging& staging = staging_[next_staging_++ % staging_.size()];
        if (staging.host == nullptr) {
          check(cudaHostAlloc(&staging.host, kStagingBytes, cudaHostAllocPortable), "pinning a staging buffer");
          check(cudaEventCreateWithFlags(&staging.done, cudaEventDisableTiming), "creating an event");
        }
        check(cudaEventSynchronize(staging.done), "waiting for a staging buffer");
        UploadSource chunk = piece.file;
        chunk.elements = std::min(per_chunk, piece.file.elements - first);
        chunk.file_offset = piece.file.file_offset + first * in;
        read_tensor(chunk, static_cast<unsigned char*>(staging.host));
        check(cudaMemcpyAsync(fill.destination + piece.slot_offset + first * out, staging.host, chunk.placed_bytes(),
                              cudaMemcpyHostToDevice, copy_),
              "copying into a window slot");
        check(cudaEventRecord(staging.done, copy_), "cudaEventRecord");
      }
    }
    check(cudaEventRecord(filled_[fill.slot], copy_), "marking a window slot filled");
  }

  void work() {
    cudaSetDevice(gpu_);
    while (true) {
      Fill fill;
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;
        fill = std::move(queue_.front());
        queue_.pop_front();
        busy_ = true;
      }
      std::exception_ptr failure;
      try {
        issue(fill);
      } catch (...) {
        failure = std::current_exception();
      }
      std::lock_guard lock(mutex_);
      if (failure && !error_) error_ = failure;
      issued_[fill.slot] = fill.generation;
      busy_ = !queue_.empty();
      issued_signal_.notify_all();
    }
  }

  int gpu_;
  cudaStream_t copy_{};
  std::vector<cudaEvent_t> filled_, released_;
  std::array<Staging, 2> staging_{};
  std::uint64_t next_staging_ = 0;
  mutable std::mutex mutex_;
  std::condition_variable wake_, issued_signal_;
  std::deque<Fill> queue_;
  std::vector<std::uint64_t> requested_, issued_;
  bool busy_ = false;
  bool stopping_ = false;
  double waited_ = 0;
  std::exception_ptr error_;
  std::thread thread_;
};

// CUDA events on a GPU's compute stream, created as needed and reused.
class CudaClock final : public ComputeClock {
 public:
  explicit CudaClock(int gpu) : gpu_(gpu) {}
  ~CudaClock() override {
    const DeviceScope device(gpu_);
    for (auto event : events_) cudaEventDestroy(event);
  }
  int mark() override {
    const DeviceScope device(gpu_);
    if (used_ == events_.size()) {
      cudaEvent_t event{};
      check(cudaEventCreate(&event), "creating a timing event");
      events_.push_back(event);
    }
    check(cudaEventRecord(events_[used_], compute_stream(gpu_)), "recording a timing event");
    return static_cast<int>(used_++);
  }
  double seconds_between(int from, int to) override {
    cudaEvent_t end = events_.at(static_cast<std::size_t>(to));
    check(cudaEventSynchronize(end), "waiting for a timing event");
    float ms = 0;
    check(cudaEventElapsedTime(&ms, events_.at(static_cast<std::size_t>(from)), end), "reading a timing event");
    return static_cast<double>(ms) / 1e3;
  }
  void clear() override { used_ = 0; }

 private:
  int gpu_;
  std::vector<cudaEvent_t> events_;
  std::size_t used_ = 0;
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
      const DeviceScope scope(d);
      check(cudaFree(nullptr), "creating the CUDA context");  // free is only meaningful once it exists
      measure_context(d);
      cudaDeviceProp properties{};
      check(cudaGetDeviceProperties(&properties, d), "cudaGetDeviceProperties");
      std::size_t free_bytes = 0, total_bytes = 0;
      check(cudaMemGetInfo(&free_bytes, &total_bytes), "cudaMemGetInfo");
      DeviceInfo gpu;
      gpu.id = DeviceId::gpu(d);
      gpu.description = std::string(properties.name) + " (compute capability " + std::to_string(properties.major) + "." +
                        std::to_string(properties.minor) + ")";
      gpu.total_bytes = total_bytes;
      // Memory our allocator caches is ours to reuse: count it as free.
      gpu.free_bytes = free_bytes + cached(d);
      const auto context = contexts_.find(d);
      gpu.context_measured = context != contexts_.end() && context->second > 0;
      gpu.context_bytes = gpu.context_measured ? context->second : default_cost_constants().assumed_cuda_context_bytes;
      gpu.compute_flops_per_s = peak_flops(properties.name);
      gpu.host_to_device_bytes_per_s = measure_host_to_device(d);
      gpus.push_back(gpu);
    }
    gpu_count_ = count;
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
      throw JobError("allocating " + format_bytes(bytes) + " on cuda:" + std::to_string(gpu) + " failed: " + e.what_without_backtrace());
    }
    return std::make_unique<CudaBlock>(gpu, data, bytes);
  }

  std::unique_ptr<MemoryBlock> allocate_pinned(std::uint64_t bytes) override {
    void* data = nullptr;
    if (cudaHostAlloc(&data, bytes, cudaHostAllocPortable) == cudaSuccess) return std::make_unique<HostBlock>(data, bytes, true);
    cudaGetLastError();  // clear it: pinning failing is not a CUDA error state we keep
    data = std::malloc(bytes);
    if (data == nullptr) throw OutOfMemory(DeviceId::host(), bytes, 0, "host memory");
    if (!warned_pageable_) {
      log::warn("could not pin ", format_bytes(bytes), " of host memory (ulimit -l, or RAM is short); using pageable memory, "
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

  std::unique_ptr<StreamLane> open_lane(int gpu, int slots) override { return std::make_unique<CudaLane>(gpu, slots); }
  std::unique_ptr<ComputeClock> open_clock(int gpu) override { return std::make_unique<CudaClock>(gpu); }

  void finish_compute(int gpu) override {
    const DeviceScope device(gpu);
    check(cudaStreamSynchronize(compute_stream(gpu)), "waiting for the compute stream");
  }

  void reset_peak(int gpu) override { c10::cuda::CUDACachingAllocator::resetPeakStats(static_cast<c10::DeviceIndex>(gpu)); }

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
    const auto context = contexts_.find(gpu);
    const std::uint64_t accounted = free_bytes + reserved + (context != contexts_.end() && context->second > 0
                                                                 ? context->second
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
  // The context's own size, as NVML sees this process right after creating it (before any allocation);
  // 0 (unmeasured) where NVML cannot tell.
  void measure_context(int gpu) {
    if (contexts_.count(gpu)) return;
    const std::string bus = bus_id(gpu);
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(static_cast<c10::DeviceIndex>(gpu));
    const bool nothing_allocated = stats.reserved_bytes[0].current == 0;
    contexts_[gpu] = !bus.empty() && nothing_allocated ? nvml_own_bytes(bus) : 0;
  }

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
  bool registration_probed_ = false;
  bool registration_allowed_ = false;
  std::map<int, std::uint64_t> contexts_;
  std::unique_ptr<Uploader> uploader_;
};

}  // namespace

}  // namespace vramguard

// The factory declared (weak) in devices/device_runtime.hpp: defined here, in the runtime library only.
extern "C" vramguard::DeviceRuntime* vramguard_create_cuda_runtime(int log_level) {
  vramguard::log::set_level(static_cast<vramguard::log::Level>(log_level));
  return new vramguard::CudaRuntime();
}
