#include "devices/process_memory_sampler.hpp"

#include <algorithm>

namespace vramguard {

ProcessMemorySampler::ProcessMemorySampler(std::function<std::uint64_t(int)> read, int gpus,
                                           std::chrono::milliseconds interval)
    : read_(std::move(read)), interval_(interval), peaks_(static_cast<std::size_t>(std::max(gpus, 0)), 0) {
  sample_all();
  thread_ = std::thread([this] {
    std::unique_lock lock(mutex_);
    while (!wake_.wait_for(lock, interval_, [this] { return stopping_; })) {
      lock.unlock();
      sample_all();
      lock.lock();
    }
  });
}

ProcessMemorySampler::~ProcessMemorySampler() {
  {
    const std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void ProcessMemorySampler::sample_all() {
  // Read outside the lock (a driver call), then fold in.
  std::vector<std::uint64_t> now(peaks_.size());
  for (std::size_t g = 0; g < now.size(); ++g) now[g] = read_(static_cast<int>(g));
  const std::lock_guard lock(mutex_);
  for (std::size_t g = 0; g < now.size(); ++g) peaks_[g] = std::max(peaks_[g], now[g]);
  ++samples_;
}

std::uint64_t ProcessMemorySampler::peak(int gpu) {
  const std::uint64_t now = read_(gpu);
  const std::lock_guard lock(mutex_);
  auto& peak = peaks_.at(static_cast<std::size_t>(gpu));
  peak = std::max(peak, now);
  return peak;
}

void ProcessMemorySampler::reset(int gpu) {
  const std::uint64_t now = read_(gpu);
  const std::lock_guard lock(mutex_);
  peaks_.at(static_cast<std::size_t>(gpu)) = now;
}

}  // namespace vramguard
