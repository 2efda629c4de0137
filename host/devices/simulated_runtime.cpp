#include "devices/simulated_runtime.hpp"

#include "core/errors.hpp"
#include "core/text.hpp"
#include "vramguard/byte_size.hpp"
#include "vramguard/cost_model.hpp"

namespace vramguard {
namespace {

constexpr const char* kSpecForms =
    "a preset (rtx4080, rtx4090, a100-80gb, h100-80gb), or GPUs separated by commas, each "
    "cuda:SIZE[@BANDWIDTH/s] or a preset name, e.g. \"cuda:16GiB@25GB/s,cuda:16GiB@25GB/s\" or \"rtx4090,rtx4090\"";

std::vector<std::string> preset_names() {
  std::vector<std::string> names;
  for (const auto& p : gpu_presets()) names.push_back(p.name);
  return names;
}

}  // namespace

// Capacities as the driver reports them; bandwidths are pinned host→device copies over the card's
// link; FLOP/s are dense bf16 tensor throughput from the vendor's specifications (docs/hardware.md).
const std::vector<GpuPreset>& gpu_presets() {
  static const std::vector<GpuPreset> presets = {
      {"rtx4080", "NVIDIA GeForce RTX 4080 16 GB (PCIe 4.0 x16)", 16ULL << 30, 25e9, 97.5e12},
      {"rtx4090", "NVIDIA GeForce RTX 4090 24 GB (PCIe 4.0 x16)", 24ULL << 30, 25e9, 165.2e12},
      {"a100-80gb", "NVIDIA A100 80 GB (PCIe 4.0 x16)", 80ULL << 30, 25e9, 312e12},
      {"h100-80gb", "NVIDIA H100 80 GB HBM3 (PCIe 5.0 x16)", 81559ULL << 20, 53.8e9, 989e12},
  };
  return presets;
}

SimulatedRuntime::SimulatedRuntime(const std::string& spec) {
  if (text::trim(spec).empty()) throw UsageError("--simulate is empty", std::string("accepted: ") + kSpecForms);
  for (const auto& raw : text::split(spec, ',')) {
    const std::string entry(text::trim(raw));
    DeviceInfo gpu;
    gpu.kind = DeviceKind::cuda;
    gpu.simulated = true;
    const GpuPreset* preset = nullptr;
    for (const auto& p : gpu_presets())
      if (p.name == entry) preset = &p;
    if (preset) {
      gpu.description = "simulated " + preset->description;
      gpu.total_bytes = preset->total_bytes;
      gpu.host_to_device_bytes_per_s = preset->host_to_device_bytes_per_s;
      gpu.compute_flops = preset->compute_flops;
    } else if (text::starts_with(entry, "cuda:")) {
      const std::string body = entry.substr(5);
      const auto at = body.find('@');
      try {
        gpu.total_bytes = parse_byte_size(body.substr(0, at));
        if (at != std::string::npos) {
          std::string rate = body.substr(at + 1);
          if (!text::ends_with(rate, "/s")) throw UsageError("bandwidth '" + rate + "' in --simulate must end in /s, e.g. 25GB/s");
          gpu.host_to_device_bytes_per_s = static_cast<double>(parse_byte_size(rate.substr(0, rate.size() - 2)));
        } else {
          gpu.host_to_device_bytes_per_s = default_cost_constants().default_host_to_device_bytes_per_s;
        }
      } catch (const InvalidByteSize& e) {
        throw UsageError("cannot read GPU '" + entry + "' in --simulate: " + e.what(), std::string("accepted: ") + kSpecForms);
      }
      if (gpu.total_bytes == 0) throw UsageError("GPU '" + entry + "' in --simulate has no memory");
      gpu.compute_flops = default_cost_constants().default_gpu_flops;
      gpu.description = "simulated GPU, " + format_bytes(gpu.total_bytes);
    } else {
      throw UsageError("unknown GPU '" + entry + "' in --simulate" + text::did_you_mean(entry, preset_names()),
                       std::string("accepted: ") + kSpecForms);
    }
    gpu.index = static_cast<int>(gpus_.size());
    gpu.name = "cuda:" + std::to_string(gpu.index);
    gpu.context_bytes = std::min(gpu.total_bytes, default_cost_constants().cuda_context_bytes);
    gpu.free_bytes = gpu.total_bytes - gpu.context_bytes;
    gpus_.push_back(gpu);
  }
}

#ifndef VRAMGUARD_WITH_CUDA_RUNTIME
std::unique_ptr<DeviceRuntime> make_cuda_runtime() { return nullptr; }
bool cuda_runtime_compiled() { return false; }
#endif

}  // namespace vramguard
