#pragma once
// Small timing helpers for the benchmarks: run a body N times, report median and min.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace vramguard::bench {

struct Timing {
  double median_ms = 0;
  double min_ms = 0;
  int runs = 0;
};

inline Timing time_runs(int runs, const std::function<void()>& body) {
  std::vector<double> ms;
  for (int i = 0; i < runs; ++i) {
    const auto start = std::chrono::steady_clock::now();
    body();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms.front(), runs};
}

inline void report(const std::string& name, const Timing& t, double target_ms) {
  std::printf("%-48s median %8.2f ms   min %8.2f ms   (%d runs)   target < %.0f ms: %s\n", name.c_str(), t.median_ms,
              t.min_ms, t.runs, target_ms, t.median_ms < target_ms ? "met" : "MISSED");
}

}  // namespace vramguard::bench
