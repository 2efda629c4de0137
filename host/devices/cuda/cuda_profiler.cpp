#include "devices/cuda/cuda_profiler.hpp"

#include <torch/csrc/autograd/profiler_kineto.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <unistd.h>
#include <utility>

#include "core/errors.hpp"
#include "core/output_file.hpp"

namespace vramguard::cuda {
namespace {

namespace kineto = torch::autograd::profiler;
using torch::profiler::impl::ActivityType;
using torch::profiler::impl::ProfilerConfig;
using torch::profiler::impl::ProfilerState;

const std::set<ActivityType>& activities() {
  static const std::set<ActivityType> both{ActivityType::CPU, ActivityType::CUDA};
  return both;
}

// The time some interval covers, overlapping ones counted once.
double covered_seconds(std::vector<std::pair<std::uint64_t, std::uint64_t>> intervals) {
  std::sort(intervals.begin(), intervals.end());
  std::uint64_t covered_ns = 0, reached = 0;
  for (const auto& [start, end] : intervals) {
    const std::uint64_t from = std::max(start, reached);
    if (end > from) covered_ns += end - from;
    reached = std::max(reached, end);
  }
  return static_cast<double>(covered_ns) * 1e-9;
}

// A private file for kineto's own writer, which writes in place: the trace then goes to the user's
// path as every output does.
std::filesystem::path private_trace_file() {
  std::string pattern = (std::filesystem::temp_directory_path() / "vramguard-profile-XXXXXX").string();
  const int fd = mkstemp(pattern.data());
  if (fd < 0)
    throw JobError("cannot make a temporary file for the profile in " + std::filesystem::temp_directory_path().string(),
                   "set TMPDIR to a writable folder");
  close(fd);
  return pattern;
}

}  // namespace

Profiler::Profiler() {
  const ProfilerConfig config(ProfilerState::KINETO);
  try {
    kineto::prepareProfiler(config, activities());
    kineto::enableProfiler(config, activities());
  } catch (const c10::Error& e) {
    throw JobError(std::string("PyTorch's profiler did not start: ") + e.what_without_backtrace(),
                   "run without --profile");
  }
  running_ = true;
}

Profiler::~Profiler() {
  if (!running_) return;
  try {
    (void)kineto::disableProfiler();
  } catch (const c10::Error&) {
    // The job is failing already; its own error is the one to report, not the profiler's.
  }
}

ProfileSummary Profiler::finish(const std::filesystem::path& file) {
  running_ = false;
  const std::unique_ptr<kineto::ProfilerResult> result = kineto::disableProfiler();
  ProfileSummary summary;
  std::map<std::string, KernelTime> by_name;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> kernels;
  std::uint64_t first_ns = UINT64_MAX, last_ns = 0;
  for (const auto& event : result->events()) {
    first_ns = std::min(first_ns, event.startNs());
    last_ns = std::max(last_ns, event.endNs());
    if (event.deviceType() != c10::DeviceType::CUDA) continue;
    KernelTime& time = by_name[event.name()];
    time.name = event.name();
    ++time.calls;
    time.seconds += static_cast<double>(event.durationNs()) * 1e-9;
    if (event.name().rfind("Memcpy", 0) != 0 && event.name().rfind("Memset", 0) != 0) {
      kernels.emplace_back(event.startNs(), event.endNs());
      ++summary.kernels;
    }
  }
  summary.span_seconds = last_ns > first_ns ? static_cast<double>(last_ns - first_ns) * 1e-9 : 0;
  summary.gpu_busy_seconds = covered_seconds(std::move(kernels));
  for (auto& [name, time] : by_name) summary.by_time.push_back(std::move(time));
  std::sort(summary.by_time.begin(), summary.by_time.end(),
            [](const KernelTime& a, const KernelTime& b) { return a.seconds > b.seconds; });

  const std::filesystem::path written = private_trace_file();
  result->save(written.string());
  std::ifstream in(written, std::ios::binary);
  const std::string trace((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  in.close();
  std::error_code ignored;
  std::filesystem::remove(written, ignored);  // ours: made by private_trace_file
  if (trace.empty()) throw JobError("PyTorch's profiler wrote no trace", "run without --profile");
  write_output_file(file, trace, "the profile");
  return summary;
}

}  // namespace vramguard::cuda
