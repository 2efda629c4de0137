#include "devices/cuda/cuda_lane.hpp"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "core/tensor_read.hpp"
#include "devices/cuda/cuda_support.hpp"

namespace vramguard::cuda {
namespace {

// One GPU's streaming window. Every fill is issued by the lane's own thread, in order, on one copy
// stream: the copy first waits (on the GPU) for the compute stream's release of the slot, then the
// pieces follow (pinned or registered memory copied directly, file pieces staged through two pinned
// buffers), then an event marks the slot filled; acquire makes the compute stream wait for that event.
class CudaLane final : public StreamLane {
 public:
  static constexpr std::uint64_t kStagingBytes = 64ULL << 20;

  CudaLane(int gpu, int slots)
      : gpu_(gpu),
        filled_(static_cast<std::size_t>(slots)),
        released_(static_cast<std::size_t>(slots)),
        requested_(static_cast<std::size_t>(slots), 0),
        issued_(static_cast<std::size_t>(slots), 0) {
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
    check(cudaEventRecord(released_[static_cast<std::size_t>(slot)], compute_stream(gpu_)),
          "marking a window slot free");
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
        check(cudaMemcpyAsync(fill.destination + piece.slot_offset, piece.host, piece.bytes, cudaMemcpyHostToDevice,
                              copy_),
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

}  // namespace

std::unique_ptr<StreamLane> open_lane(int gpu, int slots) { return std::make_unique<CudaLane>(gpu, slots); }
std::unique_ptr<ComputeClock> open_clock(int gpu) { return std::make_unique<CudaClock>(gpu); }

}  // namespace vramguard::cuda
