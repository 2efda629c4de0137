#include "devices/cuda/cuda_uploader.hpp"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "core/tensor_read.hpp"
#include "devices/cuda/cuda_support.hpp"
#include "logging/log.hpp"

namespace vramguard::cuda {
namespace {

// Copies from the checkpoint to the GPUs at load. Reader threads read (and convert) chunks into a ring
// of pinned staging buffers while copy streams move the previous chunks, so reading and the PCIe
// transfer overlap (H200 machine: 42 GB/s of a 55 GB/s link, bounded by the copy out of the page
// cache). Where the loader allows (--upload-from registered or mixed), a chunk may instead go straight
// from the page cache: its whole pages are registered with the driver (read-only) and copied by DMA,
// no CPU copy at all; the part of a page at either end is staged, so that no page is registered
// twice. Registrations end as their copies finish; where the driver refuses one, every later chunk is
// staged. Registering chunk by chunk ran at 17-18 GB/s on the H200 machine (the driver pins pages
// one call at a time), hence staging by default and `mixed`, which runs both paths side by side.
class StagedUploader final : public Uploader {
 public:
  static constexpr std::uint64_t kSlotBytes = 32ULL << 20;

  explicit StagedUploader(int gpus) {
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

  ~StagedUploader() override {
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

  void upload(int gpu, unsigned char* destination, const UploadSource& source) override {
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

  std::uint64_t bytes_from_mapping() const override { return bytes_from_mapping_.load(); }

  void synchronize() override {
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
    if (const cudaError_t status =
            cudaHostRegister(address, bytes, cudaHostRegisterReadOnly | cudaHostRegisterPortable);
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
            check(cudaEventSynchronize(slot.done[static_cast<std::size_t>(slot.last_gpu)]),
                  "waiting for a staging buffer");
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
            check(cudaMemcpyAsync(chunk.destination, slot.host, chunk.source.placed_bytes(), cudaMemcpyHostToDevice,
                                  stream),
                  "cudaMemcpyAsync");
          } else {  // the partial pages at either end, staged
            auto* staged = static_cast<unsigned char*>(slot.host);
            const std::uint64_t tail = chunk.source.source_bytes() - head - middle;
            read_exact(chunk.source.file, chunk.source.file_offset, head, staged, *chunk.source.path);
            read_exact(chunk.source.file, chunk.source.file_offset + head + middle, tail, staged + head,
                       *chunk.source.path);
            if (head > 0)
              check(cudaMemcpyAsync(chunk.destination, staged, head, cudaMemcpyHostToDevice, stream),
                    "cudaMemcpyAsync");
            if (tail > 0)
              check(cudaMemcpyAsync(chunk.destination + head + middle, staged + head, tail, cudaMemcpyHostToDevice,
                                    stream),
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

}  // namespace

std::unique_ptr<Uploader> make_uploader(int gpus) { return std::make_unique<StagedUploader>(gpus); }

}  // namespace vramguard::cuda
