#pragma once
// The most this process held on each GPU as the driver counts it, sampled in the background every
// 20 ms (50 Hz): a cap is judged by that figure (nvidia-smi's), and a step's peak lasts only
// milliseconds, so a reading at the step's end would miss it.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace vramguard {

class ProcessMemorySampler {
 public:
  // `read(gpu)`: what the process holds on `gpu` now (0 where it cannot tell).
  ProcessMemorySampler(std::function<std::uint64_t(int gpu)> read, int gpus,
                       std::chrono::milliseconds interval = std::chrono::milliseconds(20));
  ~ProcessMemorySampler();
  ProcessMemorySampler(const ProcessMemorySampler&) = delete;
  ProcessMemorySampler& operator=(const ProcessMemorySampler&) = delete;

  // The most read since the last reset (a reading is taken now too, so that nothing is missed).
  std::uint64_t peak(int gpu);
  // Starts a new peak from what is held now.
  void reset(int gpu);
  std::uint64_t samples() const { return samples_.load(); }

 private:
  void sample_all();

  std::function<std::uint64_t(int)> read_;
  std::chrono::milliseconds interval_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::vector<std::uint64_t> peaks_;
  std::atomic<std::uint64_t> samples_{0};
  std::thread thread_;
};

}  // namespace vramguard
