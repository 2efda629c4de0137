#pragma once
// The sampler: reads the GPUs every interval on a thread of its own, keeps a bounded history and the
// alerts, and hands each sample to a listener (the terminal view, JSON lines, --on-alert). Readers
// (the web server) take a copy of the state under a short lock: nothing they do can hold it up.
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "monitor/alerts.hpp"
#include "monitor/gpu_source.hpp"

namespace vramguard {

struct Sample {
  double time = 0;  // seconds since the epoch
  std::vector<GpuReading> gpus;
};

struct MonitorState {
  std::string source;  // "nvml" or "simulated"
  double interval_seconds = 1;
  Threshold threshold;
  std::vector<Sample> history;         // oldest first
  std::vector<AlertEvent> alerts;      // the latest last
  std::map<int, std::uint64_t> fired;  // upward crossings per GPU
  std::map<int, bool> active;          // above the threshold now
  std::uint64_t samples = 0;           // taken so far
};

class Sampler {
 public:
  using Listener = std::function<void(const Sample&, const std::vector<AlertEvent>&)>;
  static constexpr std::size_t kHistory = 600;
  static constexpr std::size_t kAlertsKept = 100;

  Sampler(std::unique_ptr<GpuSource> source, Threshold threshold, double interval_seconds, Listener listener);
  ~Sampler();
  Sampler(const Sampler&) = delete;
  Sampler& operator=(const Sampler&) = delete;

  void start();
  void stop();
  MonitorState state() const;

 private:
  void loop();

  std::unique_ptr<GpuSource> source_;
  AlertTracker tracker_;
  Listener listener_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  MonitorState state_;
  std::thread thread_;
};

}  // namespace vramguard
