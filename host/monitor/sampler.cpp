#include "monitor/sampler.hpp"

#include <chrono>

#include "logging/log.hpp"

namespace vramguard {

Sampler::Sampler(std::unique_ptr<GpuSource> source, Threshold threshold, double interval_seconds, Listener listener)
    : source_(std::move(source)), tracker_(threshold), listener_(std::move(listener)) {
  state_.source = source_->kind();
  state_.interval_seconds = interval_seconds;
  state_.threshold = threshold;
}

Sampler::~Sampler() { stop(); }

void Sampler::start() {
  thread_ = std::thread([this] { loop(); });
}

void Sampler::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

MonitorState Sampler::state() const {
  std::lock_guard lock(mutex_);
  return state_;
}

void Sampler::loop() {
  const auto period = std::chrono::duration<double>(state_.interval_seconds);
  auto next = std::chrono::steady_clock::now();
  while (true) {
    Sample sample;
    sample.time = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    try {
      sample.gpus = source_->read();
    } catch (const std::exception& e) {
      log::warn("reading the GPUs failed: ", e.what());
    }
    const std::vector<AlertEvent> events = tracker_.update(sample.time, sample.gpus);
    {
      std::lock_guard lock(mutex_);
      state_.history.push_back(sample);
      if (state_.history.size() > kHistory) state_.history.erase(state_.history.begin());
      state_.alerts.insert(state_.alerts.end(), events.begin(), events.end());
      if (state_.alerts.size() > kAlertsKept)
        state_.alerts.erase(state_.alerts.begin(), state_.alerts.end() - kAlertsKept);
      for (const auto& r : sample.gpus) {
        state_.fired[r.index] = tracker_.fired(r.index);
        state_.active[r.index] = tracker_.active(r.index);
      }
      ++state_.samples;
    }
    if (listener_) listener_(sample, events);
    next += std::chrono::duration_cast<std::chrono::steady_clock::duration>(period);
    std::unique_lock lock(mutex_);
    if (wake_.wait_until(lock, next, [this] { return stopping_; })) return;
  }
}

}  // namespace vramguard
