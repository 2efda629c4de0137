#include "monitor/gpu_source.hpp"

#include <algorithm>

#include "core/errors.hpp"
#include "devices/nvml_processes.hpp"
#include "devices/simulated_runtime.hpp"
#include "engine/request_setup.hpp"
#include "request/cli_options.hpp"

namespace vramguard {
namespace {

void largest_first(std::vector<GpuProcess>& processes) {
  std::sort(processes.begin(), processes.end(),
            [](const GpuProcess& a, const GpuProcess& b) { return a.bytes > b.bytes; });
}

class NvmlSource final : public GpuSource {
 public:
  std::string kind() const override { return "nvml"; }
  std::vector<GpuReading> read() override {
    std::vector<GpuReading> readings;
    for (auto& gpu : nvml_gpus().value_or(std::vector<NvmlGpu>{})) {
      GpuReading r{gpu.index, gpu.name, gpu.total_bytes, gpu.used_bytes, gpu.free_bytes, std::move(gpu.processes)};
      largest_first(r.processes);
      readings.push_back(std::move(r));
    }
    return readings;
  }
};

class SimulatedSource final : public GpuSource {
 public:
  explicit SimulatedSource(std::unique_ptr<DeviceRuntime> runtime) : runtime_(std::move(runtime)) {}
  std::string kind() const override { return "simulated"; }
  std::vector<GpuReading> read() override {
    std::vector<GpuReading> readings;
    const auto gpus = runtime_->probe_gpus();
    for (std::size_t g = 0; g < gpus.size(); ++g) {
      const MemorySnapshot snap = runtime_->snapshot(static_cast<int>(g));
      GpuReading r{static_cast<int>(g),    gpus[g].description, snap.total,
                   snap.total - snap.free, snap.free,           runtime_->other_processes(static_cast<int>(g))};
      largest_first(r.processes);
      readings.push_back(std::move(r));
    }
    return readings;
  }

 private:
  std::unique_ptr<DeviceRuntime> runtime_;
};

}  // namespace

std::unique_ptr<GpuSource> make_gpu_source(const Invocation& invocation) {
  if (const LoadRequest devices = load_request_from(invocation, /*model_required=*/false); devices.simulate)
    return std::make_unique<SimulatedSource>(make_runtime(devices));
  if (!nvml_gpus())
    throw UsageError(
        "monitor reads the GPUs through NVML (libnvidia-ml.so.1, from the NVIDIA driver), which is not here",
        "install the driver, or try it on simulated GPUs: vramguard monitor --simulate rtx4080 --simulate-usage "
        "0=14GB@3");
  return std::make_unique<NvmlSource>();
}

}  // namespace vramguard
