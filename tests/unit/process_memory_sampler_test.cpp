// The process's memory as the driver counts it, sampled in the background: a peak that lasts a few
// tens of milliseconds between two readings of the caller's is still caught.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "devices/process_memory_sampler.hpp"

using namespace vramguard;
using namespace std::chrono_literals;

TEST(ProcessMemorySampler, CatchesAShortPeakBetweenTheCallersReadings) {
  std::atomic<std::uint64_t> held{100};
  ProcessMemorySampler sampler([&](int gpu) { return gpu == 0 ? held.load() : 7; }, 2, 5ms);
  sampler.reset(0);
  held = 900;  // a step's activations, briefly
  std::this_thread::sleep_for(60ms);
  held = 150;
  EXPECT_EQ(sampler.peak(0), 900u);
  EXPECT_EQ(sampler.peak(1), 7u);
  EXPECT_GE(sampler.samples(), 3u);
  // A new peak starts from what is held now.
  sampler.reset(0);
  EXPECT_EQ(sampler.peak(0), 150u);
}
