#include "vramguard/cost_model.hpp"

#include <algorithm>
#include <map>

namespace vramguard {
namespace {

std::uint64_t round_up(std::uint64_t value, std::uint64_t granularity) {
  return granularity == 0 ? value : (value + granularity - 1) / granularity * granularity;
}

double gpu_flops(const DeviceInfo* gpu, const CostConstants& c) {
  const double peak = gpu && gpu->compute_flops > 0 ? gpu->compute_flops : c.default_gpu_flops;
  return peak * c.gpu_efficiency;
}

double h2d(const DeviceInfo* gpu, const CostConstants& c) {
  return gpu && gpu->host_to_device_bytes_per_s > 0 ? gpu->host_to_device_bytes_per_s : c.default_host_to_device_bytes_per_s;
}

}  // namespace

const CostConstants& default_cost_constants() {
  static const CostConstants constants;
  return constants;
}

std::uint64_t allocated_bytes(const Unit& unit, const CostConstants& c) {
  std::uint64_t bytes = 0;
  for (const auto& tensor : unit.tensors) bytes += round_up(tensor.bytes, c.tensor_alignment);
  return round_up(bytes, c.segment_granularity);
}

std::uint64_t tokens_for(const Component& component, const Workload& workload) {
  const std::uint64_t tokens = workload.tokens > 0 ? workload.tokens : (component.default_tokens > 0 ? component.default_tokens : 2048);
  return tokens * std::max<std::uint64_t>(1, workload.batch);
}

std::uint64_t activation_headroom(const Component& component, const Workload& workload, const CostConstants& c) {
  return static_cast<std::uint64_t>(component.activation_bytes_per_token * static_cast<double>(tokens_for(component, workload))) +
         c.workspace_bytes;
}

std::uint64_t streaming_window_bytes(std::uint64_t largest_streamed_unit, int prefetch_depth) {
  return largest_streamed_unit * static_cast<std::uint64_t>(std::max(0, prefetch_depth) + 1);
}

const DevicePrediction* Prediction::find(const std::string& device) const {
  for (const auto& d : devices)
    if (d.device == device) return &d;
  return nullptr;
}

Prediction predict(const ModelGraph& model, const DeviceBudget& budget, const Placement& placement,
                   const Workload& workload, const CostConstants& c) {
  Prediction prediction;
  std::map<std::string, std::size_t> index;
  for (const auto& device : budget.devices) {
    index[device.name] = prediction.devices.size();
    DevicePrediction d;
    d.device = device.name;
    d.usable_bytes = device.usable_bytes;
    if (device.kind == DeviceKind::cuda) {
      d.headroom_bytes = device.headroom_bytes;
      d.context_bytes = device.context_bytes;
    }
    prediction.devices.push_back(d);
  }
  const int depth = placement.prefetch_depth();
  std::map<std::string, std::uint64_t> largest_streamed;  // per executing GPU
  std::map<std::string, std::uint64_t> bytes_to_gpu;       // loaded at load time
  std::map<std::string, bool> executes;                    // devices that run at least one unit
  std::uint64_t bytes_read = 0;

  for (const auto& component : model.components) {
    ComponentPrediction cp;
    cp.component = component.name;
    cp.tokens = tokens_for(component, workload);
    std::string previous_executor;
    for (const auto& unit : component.units) {
      const UnitPlacement* placed = placement.find(component.name, unit.name);
      if (placed == nullptr) continue;
      const DeviceInfo* executor = budget.find(placed->executes_on);
      executes[placed->executes_on] = true;
      const double flops = unit.flops_per_token * static_cast<double>(cp.tokens);
      const std::uint64_t rounded = allocated_bytes(unit, c);
      double seconds = 0;
      switch (placed->mode) {
        case PlacementMode::resident: {
          if (const auto it = index.find(placed->storage); it != index.end()) prediction.devices[it->second].resident_bytes += rounded;
          bytes_to_gpu[placed->storage] += unit.bytes;
          bytes_read += unit.bytes;
          seconds = flops / gpu_flops(executor, c);
          break;
        }
        case PlacementMode::streamed: {
          auto& largest = largest_streamed[placed->executes_on];
          largest = std::max(largest, rounded);
          const bool pinned = placed->storage == "cpu";
          if (pinned) {
            prediction.pinned_bytes += unit.bytes;
            bytes_read += unit.bytes;
            if (const auto it = index.find("cpu"); it != index.end()) prediction.devices[it->second].resident_bytes += unit.bytes;
          } else {
            prediction.pageable_bytes += unit.bytes;
          }
          const double bandwidth = pinned ? h2d(executor, c)
                                          : std::min(c.page_cache_bytes_per_s, h2d(executor, c) * c.pageable_copy_fraction);
          const double transfer = static_cast<double>(unit.bytes) / bandwidth;
          const double compute = flops / gpu_flops(executor, c);
          // With prefetch the copy of the next unit overlaps this unit's compute; without, they add up.
          seconds = depth > 0 ? std::max(transfer, compute) : transfer + compute;
          cp.streamed_bytes += unit.bytes;
          break;
        }
        case PlacementMode::cpu: {
          if (const auto it = index.find("cpu"); it != index.end()) prediction.devices[it->second].resident_bytes += unit.bytes;
          bytes_read += unit.bytes;
          seconds = flops / c.cpu_flops;
          break;
        }
      }
      // Activations hop between devices when consecutive units execute on different ones.
      if (!previous_executor.empty() && previous_executor != placed->executes_on)
        seconds += component.activation_bytes_per_token * static_cast<double>(cp.tokens) / h2d(executor, c);
      previous_executor = placed->executes_on;
      cp.step_seconds += seconds;
    }
    prediction.streamed_bytes_per_step += cp.streamed_bytes;
    prediction.step_seconds += cp.step_seconds;
    prediction.components.push_back(cp);
  }

  for (auto& d : prediction.devices) {
    const DeviceInfo* device = budget.find(d.device);
    if (device->kind == DeviceKind::cuda) {
      if (const auto it = largest_streamed.find(d.device); it != largest_streamed.end())
        d.window_bytes = streaming_window_bytes(it->second, depth);
      // A GPU the plan never uses gets no context and no activations.
      const bool used = executes.count(d.device) || d.resident_bytes > 0;
      d.peak_bytes = used ? d.context_bytes + d.resident_bytes + d.window_bytes + d.headroom_bytes : 0;
      d.fits = d.resident_bytes + d.window_bytes <= d.usable_bytes;
    } else {
      d.peak_bytes = d.resident_bytes;
      d.fits = device->kind == DeviceKind::disk || d.resident_bytes <= d.usable_bytes;
    }
  }

  // Loading: reading the checkpoint and copying to the GPUs run concurrently; the slower bounds it.
  const double storage = budget.storage_bytes_per_s > 0 ? budget.storage_bytes_per_s : c.page_cache_bytes_per_s;
  double copy_seconds = 0;
  for (const auto& [device, bytes] : bytes_to_gpu)
    copy_seconds = std::max(copy_seconds, static_cast<double>(bytes) / h2d(budget.find(device), c));
  prediction.load_seconds = std::max(static_cast<double>(bytes_read) / storage, copy_seconds);
  return prediction;
}

}  // namespace vramguard
