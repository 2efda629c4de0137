#pragma once
// A job's profile (`vramguard edit --profile FILE`, `run --profile FILE`): PyTorch's profiler (kineto:
// CUPTI for the GPU) over the job's steps — every CPU op and every GPU kernel and copy — written as a
// Chrome trace (Perfetto, chrome://tracing), and summed up: how busy the GPU was, and the kernels that
// took its time. Only in CUDA builds: Debian's libtorch 1.13 has no kineto. libtorch-free here.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace vramguard::cuda {

struct KernelTime {
  std::string name;  // the kernel's (or the copy's: "Memcpy HtoD (Pinned -> Device)")
  std::uint64_t calls = 0;
  double seconds = 0;  // summed over its calls
};

struct ProfileSummary {
  double span_seconds = 0;      // from the first recorded event to the last
  double gpu_busy_seconds = 0;  // the time some kernel ran (overlapping kernels counted once)
  std::uint64_t kernels = 0;
  std::vector<KernelTime> by_time;  // the GPU's work by name, longest first
};

class Profiler {
 public:
  Profiler();   // starts recording; JobError where PyTorch's profiler cannot start
  ~Profiler();  // stops without writing, where finish() was not called (the job failed)
  Profiler(const Profiler&) = delete;
  Profiler& operator=(const Profiler&) = delete;

  // Stops recording, writes the trace to `file` (as write_output_file writes: beside it, then in its
  // place) and sums it up.
  ProfileSummary finish(const std::filesystem::path& file);

 private:
  bool running_ = false;
};

}  // namespace vramguard::cuda
