#include "vramguard/cost_model.hpp"

#include <algorithm>
#include <cstdio>
#include <map>

namespace vramguard {
namespace {

std::uint64_t round_up(std::uint64_t value, std::uint64_t granularity) {
  return granularity == 0 ? value : (value + granularity - 1) / granularity * granularity;
}

// Whether a unit's bytes on the device equal its bytes in the file (no dtype conversion or quantization
// on the way): only then can the GPU copy straight from the mapped checkpoint.
bool stored_as_placed(const Unit& unit, std::optional<DType> target) {
  for (const auto& tensor : unit.tensors)
    if (tensor.tied_to.empty() &&
        (placed_dtype(tensor.dtype, target) != tensor.dtype || tensor.bytes != tensor.stored_bytes))
      return false;
  return true;
}

struct SourceChoice {
  StreamSource source = StreamSource::pinned_copy;
  double copy_bytes_per_s = 0;   // the rate the window is filled at
  double ready_bytes_per_s = 0;  // the rate host storage is made ready before the first step (0: nothing to do)
  std::string reason;
};

// Weights stored on the host reach the GPU fastest from pinned memory; registering the mapped checkpoint
// saves the copy into pinned memory (ready in seconds, not minutes) but fills the window at
// registered_copy_fraction of the pinned rate. Where both are allowed the job decides: the time to make
// the weights ready plus the job's streamed bytes at each rate (a few edits: registered; a server's
// hundreds of passes: pinned). Staging from the page cache is ready at once but copies at the rate one
// reader thread per GPU fills the staging ring. `forced`: the user's choice.
SourceChoice choose_stream_source(const ModelGraph& model, const DeviceBudget& budget, const Placement& placement,
                                  const Workload& workload, const CostConstants& c,
                                  std::optional<StreamSource> forced) {
  const double pinned = host_to_device_bytes_per_s(budget.gpus().empty() ? nullptr : budget.gpus().front(), c);
  const double staged = std::min(c.staged_stream_bytes_per_s, pinned);
  const double registered_rate = pinned * c.registered_copy_fraction;
  bool convertible_in_place = true;
  double held_bytes = 0, job_bytes = 0;  // streamed from host memory: held there, and copied over the job
  for (const auto& component : model.components)
    for (const auto& unit : component.units)
      if (const auto* p = placement.find(component.name, unit.name);
          p && p->mode == PlacementMode::streamed && p->storage == DeviceId::host()) {
        convertible_in_place = convertible_in_place && stored_as_placed(unit, model.target_dtype);
        held_bytes += static_cast<double>(unit.bytes);
        job_bytes += static_cast<double>(unit.bytes) * static_cast<double>(workload.passes(component.name));
      }
  const double registered_job_seconds = held_bytes / c.registration_bytes_per_s + job_bytes / registered_rate;
  const double pinned_job_seconds = held_bytes / c.pinned_fill_bytes_per_s + job_bytes / pinned;
  char rates[384];
  const auto registered = [&] {
    std::snprintf(rates, sizeof rates,
                  "registering the mapped checkpoint (%.1f GB/s, copies at %.1f GB/s: %.1f s over the job) rather than "
                  "copying it into pinned memory (%.1f GB/s, copies at %.1f GB/s: %.1f s)",
                  c.registration_bytes_per_s / 1e9, registered_rate / 1e9, registered_job_seconds,
                  c.pinned_fill_bytes_per_s / 1e9, pinned / 1e9, pinned_job_seconds);
    return SourceChoice{StreamSource::registered_mapping, registered_rate, c.registration_bytes_per_s, rates};
  };
  const auto copied = [&](const char* why) {
    std::snprintf(rates, sizeof rates,
                  "%s; pinned memory is filled at %.1f GB/s and copies at %.1f GB/s, the page cache through the "
                  "staging ring at %.1f GB/s",
                  why, c.pinned_fill_bytes_per_s / 1e9, pinned / 1e9, staged / 1e9);
    return SourceChoice{StreamSource::pinned_copy, pinned, c.pinned_fill_bytes_per_s, rates};
  };
  const auto staged_choice = [&](const char* why) {
    std::snprintf(rates, sizeof rates, "%s; the staging ring fills the window at %.1f GB/s", why, staged / 1e9);
    return SourceChoice{StreamSource::staged_page_cache, staged, 0, rates};
  };
  if (forced) {
    switch (*forced) {
      case StreamSource::registered_mapping: return registered();
      case StreamSource::pinned_copy: return copied("asked for (--stream-from pinned)");
      case StreamSource::staged_page_cache: return staged_choice("asked for (--stream-from page-cache)");
    }
  }
  const bool can_pin = budget.pinned_cap_bytes > 0;
  if (budget.can_register_mappings && convertible_in_place) {
    if (!can_pin || registered_job_seconds <= pinned_job_seconds) return registered();
    char why[160];
    std::snprintf(why, sizeof why,
                  "over the job's passes pinned copies (%.1f s) beat registering the checkpoint (%.1f s, its copies at "
                  "%.1f GB/s)",
                  pinned_job_seconds, registered_job_seconds, registered_rate / 1e9);
    return copied(why);
  }
  if (can_pin)
    return copied(budget.can_register_mappings
                      ? "a dtype conversion (--dtype, --weight-dtype) rules out registering the checkpoint"
                      : "this runtime cannot register the checkpoint (needs root or a memlock limit)");
  return staged_choice("no pinned memory is allowed (--pinned-memory 0)");
}

}  // namespace

const CostConstants& default_cost_constants() {
  static const CostConstants constants;
  return constants;
}

std::string_view stream_source_name(StreamSource source) {
  switch (source) {
    case StreamSource::pinned_copy: return "pinned copy";
    case StreamSource::registered_mapping: return "registered mapping";
    case StreamSource::staged_page_cache: return "staged from the page cache";
  }
  return "pinned copy";
}

std::uint64_t allocated_bytes(const Unit& unit, const CostConstants& c) {
  std::uint64_t bytes = 0;
  for (const auto& tensor : unit.tensors)
    if (tensor.tied_to.empty()) bytes += round_up(tensor.bytes, c.tensor_alignment_bytes);
  return round_up(bytes, c.segment_granularity_bytes);
}

std::uint64_t window_slot_bytes(const Unit& unit, const CostConstants& c) {
  std::uint64_t bytes = 0;
  for (const auto& tensor : unit.tensors) bytes += round_up(tensor.bytes, c.tensor_alignment_bytes);
  return round_up(bytes, c.segment_granularity_bytes);
}

std::uint64_t sequence_tokens_for(const Component& component, const Workload& workload) {
  return workload.sequence_tokens(component.name, component.default_tokens > 0 ? component.default_tokens : 2048);
}

std::uint64_t tokens_for(const Component& component, const Workload& workload) {
  return sequence_tokens_for(component, workload) * std::max<std::uint64_t>(1, workload.batch);
}

std::uint64_t activation_headroom(const Component& component, const Workload& workload, const CostConstants& c) {
  return static_cast<std::uint64_t>(component.activation_bytes_per_token *
                                    static_cast<double>(tokens_for(component, workload))) +
         c.workspace_bytes;
}

double gpu_flops_per_s(const DeviceInfo* gpu, const CostConstants& c) {
  const double peak = gpu && gpu->compute_flops_per_s > 0 ? gpu->compute_flops_per_s : c.default_gpu_flops_per_s;
  return peak * c.gpu_efficiency;
}

double host_to_device_bytes_per_s(const DeviceInfo* gpu, const CostConstants& c) {
  const double probed = gpu && gpu->host_to_device_bytes_per_s > 0 ? gpu->host_to_device_bytes_per_s
                                                                   : c.default_host_to_device_bytes_per_s;
  return probed * c.copy_efficiency;
}

double gpu_memory_bytes_per_s(const DeviceInfo* gpu, const CostConstants& c) {
  return gpu && gpu->memory_bytes_per_s > 0 ? gpu->memory_bytes_per_s * c.memory_efficiency : 0;
}

double unit_pass_flops(const Unit& unit, std::uint64_t tokens, std::uint64_t batch) {
  const double t = static_cast<double>(tokens);
  return static_cast<double>(std::max<std::uint64_t>(1, batch)) * t *
         (unit.flops_per_token + t * unit.sequence_flops_per_token);
}

double unit_gpu_seconds(const Unit& unit, double flops, const DeviceInfo* gpu, const CostConstants& c, double fp8_flops,
                        double elementwise_bytes) {
  std::size_t matmuls = 0;
  for (const auto& tensor : unit.tensors)
    if (multiplies_tokens(unit, tensor)) ++matmuls;
  // Without fp8 tensor cores, fp8 weights are turned into the compute dtype and multiplied there.
  const double fp8_rate = gpu ? gpu->fp8_compute_flops_per_s * c.fp8_gpu_efficiency : 0;
  if (fp8_rate <= 0) fp8_flops = 0;
  // Element-wise passes where the GPU's memory bandwidth is known (see gpu_memory_bytes_per_s).
  const double memory_rate = gpu_memory_bytes_per_s(gpu, c);
  const double arithmetic = (flops - fp8_flops) / gpu_flops_per_s(gpu, c) + (fp8_flops > 0 ? fp8_flops / fp8_rate : 0) +
                            static_cast<double>(matmuls) * c.matmul_fixed_seconds +
                            (memory_rate > 0 ? elementwise_bytes / memory_rate : 0);
  return std::max(arithmetic, static_cast<double>(unit.tensors.size()) * c.launch_seconds_per_tensor);
}

double unit_pass_gpu_seconds(const Unit& unit, std::uint64_t tokens, const Workload& workload, const DeviceInfo* gpu,
                             const CostConstants& c) {
  const double batch_tokens =
      static_cast<double>(std::max<std::uint64_t>(1, workload.batch)) * static_cast<double>(tokens);
  const bool fp8 = workload.fp8_matmuls && unit.fp8_flops_per_token > 0 && gpu && gpu->fp8_compute_flops_per_s > 0;
  const double fp8_flops = fp8 ? batch_tokens * unit.fp8_flops_per_token : 0;
  const double elementwise_bytes =
      batch_tokens * (fp8 ? unit.fp8_elementwise_bytes_per_token : unit.elementwise_bytes_per_token);
  return unit_gpu_seconds(unit, unit_pass_flops(unit, tokens, workload.batch), gpu, c, fp8_flops, elementwise_bytes);
}

std::uint64_t streaming_window_bytes(std::uint64_t largest_streamed_unit, int prefetch_depth) {
  return largest_streamed_unit * static_cast<std::uint64_t>(std::max(0, prefetch_depth) + 1);
}

std::string format_seconds(double seconds) {
  char buffer[32];
  if (seconds < 1) std::snprintf(buffer, sizeof buffer, "%.1f ms", seconds * 1e3);
  else std::snprintf(buffer, sizeof buffer, "%.2f s", seconds);
  return buffer;
}

const DevicePrediction* Prediction::find(DeviceId device) const {
  for (const auto& d : devices)
    if (d.device == device) return &d;
  return nullptr;
}

Prediction predict(const ModelGraph& model, const DeviceBudget& budget, const Placement& placement,
                   const Workload& workload, const CostConstants& c, std::optional<StreamSource> stream_source) {
  Prediction prediction;
  std::map<DeviceId, std::size_t> index;
  for (const auto& device : budget.devices) {
    index[device.id] = prediction.devices.size();
    DevicePrediction d;
    d.device = device.id;
    d.usable_bytes = device.usable_bytes;
    if (device.id.is_gpu()) {
      d.headroom_bytes = device.headroom_bytes;
      d.context_bytes = device.context_bytes;
      d.adapter_bytes = device.adapter_bytes;
    }
    prediction.devices.push_back(d);
  }
  auto held_on = [&](DeviceId device) -> DevicePrediction* {
    const auto it = index.find(device);
    return it == index.end() ? nullptr : &prediction.devices[it->second];
  };
  const SourceChoice source = choose_stream_source(model, budget, placement, workload, c, stream_source);
  prediction.stream_source = source.source;
  prediction.stream_source_reason = source.reason;
  const double page_cache = budget.storage_bytes_per_s > 0 ? budget.storage_bytes_per_s : c.page_cache_bytes_per_s;
  const int depth = placement.prefetch_depth;
  std::map<DeviceId, std::uint64_t> largest_streamed;  // per executing GPU
  std::map<DeviceId, std::uint64_t> bytes_to_gpu;      // copied at load time
  std::map<DeviceId, bool> executes;                   // devices that run at least one unit
  std::uint64_t bytes_read = 0, host_prepared = 0;

  for (const auto& component : model.components) {
    ComponentPrediction cp;
    cp.component = component.name;
    cp.tokens = tokens_for(component, workload);
    cp.passes = workload.passes(component.name);
    const std::uint64_t sequence = sequence_tokens_for(component, workload);
    const std::uint64_t batch = std::max<std::uint64_t>(1, workload.batch);
    // The step as the executor runs it: units compute one after another (each needs the previous
    // one's output); each GPU's copy engine fills its window in forward order, a copy starting once the
    // engine is free and its slot has been released by the unit that held it (prefetch_depth + 1
    // streamed units earlier), and a streamed unit computes once its copy is done.
    std::map<DeviceId, double> copy_free;                   // per GPU: when its copy engine is next free
    std::map<DeviceId, std::vector<double>> slot_released;  // per GPU: when each streamed unit finished
    double now = 0;
    DeviceId previous_executor{};
    bool first = true;
    for (const auto& unit : component.units) {
      const UnitPlacement* placed = placement.find(component.name, unit.name);
      if (placed == nullptr) continue;
      const DeviceInfo* executor = budget.find(placed->executes_on);
      executes[placed->executes_on] = true;
      const double flops = unit_pass_flops(unit, sequence, batch);
      const std::uint64_t rounded = allocated_bytes(unit, c);
      // Activations hop between devices when consecutive units execute on different ones.
      if (!first && previous_executor != placed->executes_on)
        now += component.activation_bytes_per_token * static_cast<double>(cp.tokens) /
               host_to_device_bytes_per_s(executor, c);
      previous_executor = placed->executes_on;
      first = false;
      double compute = 0, transfer = 0;
      switch (placed->mode) {
        case PlacementMode::resident: {
          if (auto* d = held_on(placed->storage)) d->resident_bytes += rounded;
          bytes_to_gpu[placed->storage] += unit.bytes;
          bytes_read += unit.bytes;
          compute = unit_pass_gpu_seconds(unit, sequence, workload, executor, c);
          break;
        }
        case PlacementMode::streamed: {
          auto& largest = largest_streamed[placed->executes_on];
          largest = std::max(largest, window_slot_bytes(unit, c));
          const bool on_host = placed->storage == DeviceId::host();
          if (on_host) {
            prediction.pinned_bytes += unit.bytes;
            host_prepared += unit.bytes;
            if (auto* d = held_on(DeviceId::host())) d->resident_bytes += unit.bytes;
          } else {
            prediction.pageable_bytes += unit.bytes;
          }
          const double link = host_to_device_bytes_per_s(executor, c);
          const double bandwidth = on_host ? std::min(source.copy_bytes_per_s, link)
                                           : std::min({page_cache, c.staged_stream_bytes_per_s, link});
          transfer = static_cast<double>(unit.bytes) / bandwidth;
          compute = unit_pass_gpu_seconds(unit, sequence, workload, executor, c);
          auto& released = slot_released[placed->executes_on];
          const std::size_t slots = static_cast<std::size_t>(std::max(0, depth)) + 1;
          const double slot_free = released.size() >= slots ? released[released.size() - slots] : 0;
          const double copied = std::max(copy_free[placed->executes_on], slot_free) + transfer;
          copy_free[placed->executes_on] = copied;
          now = std::max(now, copied);
          released.push_back(now + compute);
          cp.streamed_bytes += unit.bytes;
          break;
        }
        case PlacementMode::cpu: {
          if (auto* d = held_on(DeviceId::host())) d->resident_bytes += unit.bytes;
          bytes_read += unit.bytes;
          compute = flops / c.cpu_flops_per_s;
          break;
        }
      }
      now += compute;
      cp.compute_seconds += compute;
      cp.copy_seconds += transfer;
    }
    cp.step_seconds = now;
    prediction.streamed_bytes_per_step += cp.streamed_bytes;
    prediction.step_seconds += cp.step_seconds;
    prediction.streamed_bytes_per_job += cp.streamed_bytes * cp.passes;
    prediction.job_seconds += cp.step_seconds * static_cast<double>(cp.passes);
    prediction.components.push_back(cp);
  }

  for (auto& d : prediction.devices) {
    const DeviceInfo* device = budget.find(d.device);
    if (device->id.is_gpu()) {
      if (const auto it = largest_streamed.find(d.device); it != largest_streamed.end())
        d.window_bytes = streaming_window_bytes(it->second, depth);
      // A GPU the plan never uses gets no context and no activations.
      const bool used = executes.count(d.device) || d.resident_bytes > 0;
      d.peak_bytes =
          used ? d.context_bytes + d.adapter_bytes + d.resident_bytes + d.window_bytes + d.headroom_bytes : 0;
      d.fits = d.resident_bytes + d.window_bytes <= d.usable_bytes;
    } else {
      d.peak_bytes = d.resident_bytes;
      d.fits = device->id.kind == DeviceKind::disk || d.resident_bytes <= d.usable_bytes;
    }
  }

  // Resident weights: reading the checkpoint and copying to the GPUs run concurrently; the slower
  // bounds it. Host storage for streamed weights is made ready after that.
  double copy_seconds = 0;
  for (const auto& [device, bytes] : bytes_to_gpu)
    copy_seconds =
        std::max(copy_seconds, static_cast<double>(bytes) / host_to_device_bytes_per_s(budget.find(device), c));
  const double resident_seconds = std::max(static_cast<double>(bytes_read) / page_cache, copy_seconds);
  const double host_seconds =
      source.ready_bytes_per_s > 0 ? static_cast<double>(host_prepared) / source.ready_bytes_per_s : 0;
  prediction.ready_seconds = resident_seconds + host_seconds;
  return prediction;
}

}  // namespace vramguard
