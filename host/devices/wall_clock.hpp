#pragma once
// A ComputeClock for work the CPU does synchronously (simulated GPUs, cpu-mode units): the wall clock.
#include <chrono>
#include <vector>

#include "devices/device_runtime.hpp"

namespace vramguard {

class WallClock final : public ComputeClock {
 public:
  int mark() override {
    marks_.push_back(std::chrono::steady_clock::now());
    return static_cast<int>(marks_.size()) - 1;
  }
  double seconds_between(int from, int to) override {
    return std::chrono::duration<double>(marks_.at(static_cast<std::size_t>(to)) -
                                         marks_.at(static_cast<std::size_t>(from)))
        .count();
  }
  void clear() override { marks_.clear(); }

 private:
  std::vector<std::chrono::steady_clock::time_point> marks_;
};

}  // namespace vramguard
