#include <ATen/Functions.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <chrono>
#include <numeric>
#include <optional>

#include "core/errors.hpp"
#include "core/stop_signal.hpp"
#include "devices/device_memory.hpp"
#include "fp8_weights.hpp"
#include "load/loaded_model.hpp"
#include "logging/log.hpp"
#include "model/scaled_fp8.hpp"
#include "model_description.hpp"
#include "session_impl.hpp"
#include "engine/request_setup.hpp"
#include "guard/report.hpp"
#include "request_from_options.hpp"
#include "torch_tensors.hpp"
#include "vramguard/runtime/linear_input.hpp"

namespace vramguard::runtime {
namespace {

// The step's device memory ran out: as the guard's OutOfMemory, whoever raised it.
// The bytes PyTorch's message says it tried to allocate ("Tried to allocate 48.00 MiB"); 0 where it
// says none.
std::uint64_t requested_bytes(const std::string& message) {
  const std::string marker = "Tried to allocate ";
  const auto at = message.find(marker);
  if (at == std::string::npos) return 0;
  std::size_t used = 0;
  double value = 0;
  try {
    value = std::stod(message.substr(at + marker.size()), &used);
  } catch (const std::exception&) {
    return 0;
  }
  const std::string unit = message.substr(at + marker.size() + used, 4);
  const double scale = unit.rfind(" GiB", 0) == 0   ? 1073741824.0
                       : unit.rfind(" MiB", 0) == 0 ? 1048576.0
                       : unit.rfind(" KiB", 0) == 0 ? 1024.0
                                                    : 1.0;
  return static_cast<std::uint64_t>(value * scale);
}

// PyTorch's out-of-memory as the guard's: what was asked for, and what was left — under the process
// limit where one holds (the allocator's share of the cap), else on the card.
OutOfMemory as_out_of_memory(const c10::Error& e, c10::Device device, DeviceRuntime& runtime) {
  const DeviceId id = device.is_cuda() ? DeviceId::gpu(device.index() < 0 ? 0 : device.index()) : DeviceId::host();
  const std::string message = e.what_without_backtrace();
  std::uint64_t left = 0;
  if (id.is_gpu()) {
    const MemorySnapshot snap = runtime.snapshot(id.index);
    left = snap.process_limit > 0
               ? (snap.process_limit > snap.process_total ? snap.process_limit - snap.process_total : 0)
               : snap.free + snap.ours_cached;
  }
  return OutOfMemory(id, requested_bytes(message), left, "a step's activations: " + message);
}

}  // namespace

std::unique_ptr<Session::Impl> Session::Impl::open(LoadRequest request, InspectedModel model, const Hooks& hooks) {
  auto impl = std::make_unique<Impl>();
  impl->request = std::move(request);
  impl->model = std::make_unique<InspectedModel>(std::move(model));
  impl->description = describe(*impl->model);
  // --fp8-compute on where fp8 matmuls cannot run is refused before a device is touched.
  impl->fp8_matmul_gpus =
      runtime::fp8_matmul_gpus(impl->request.fp8_compute, *impl->model, impl->request.simulate.has_value());
  // The strategies first: a name no plugin has is a usage error before a device is touched.
  impl->registry = std::make_unique<PluginRegistry>(discover_plugins(impl->request.plugins));
  GuardOptions guard = guard_options_from(impl->request, *impl->registry);
  // Simulated devices keep every byte in host memory so that the CPU can compute in their place.
  impl->runtime = make_runtime(impl->request, /*keep_data=*/impl->request.simulate.has_value(), &impl->allocator);
  guard.progress = hooks.progress;
  guard.cancel = hooks.cancel;
  impl->pipeline = std::make_unique<GuardPipeline>(*impl->runtime, *impl->registry, *impl->model, guard);
  impl->result.emplace(impl->pipeline->run());
  impl->result->report.allocator_settings = impl->allocator;
  impl->rebind();
  return impl;
}

std::size_t Session::Impl::component_index(std::string_view component) const {
  for (std::size_t c = 0; c < model->graph.components.size(); ++c)
    if (model->graph.components[c].name == component) return c;
  std::string known;
  for (const auto& c : model->graph.components) known += (known.empty() ? "" : ", ") + c.name;
  throw UsageError("the model has no component '" + std::string(component) + "'", "its components: " + known);
}

double Session::Impl::adapter_scale(const LoraAdapter& adapter) const {
  if (!lora_scales) return adapter.scale;
  const auto it = lora_scales->find(adapter.file);
  return it == lora_scales->end() ? 0.0 : adapter.file_scale * it->second;
}

void Session::Impl::rebind() {
  executor.reset();
  executor = std::make_unique<Executor>(*runtime, *model, result->placement, result->model);
}

void Session::Impl::unload() {
  if (!executor) return;  // already
  executor.reset();
  if (result) pipeline->unload(*result);
}

std::uint64_t Session::Impl::activation_room_bytes(std::string_view component) const {
  std::uint64_t room = UINT64_MAX;
  if (!result) return room;
  const AttemptRecord* loaded = nullptr;
  for (const auto& attempt : result->report.attempts)
    if (attempt.outcome == "loaded" && attempt.prediction) loaded = &attempt;
  if (loaded == nullptr) return room;
  const Component& graph = model->graph.components[component_index(component)];
  for (const auto& unit : graph.units) {
    const auto* placed = result->placement.find(graph.name, unit.name);
    if (placed == nullptr || !placed->executes_on.is_gpu()) continue;
    const DevicePrediction* d = loaded->prediction->find(placed->executes_on);
    if (d == nullptr) continue;
    const std::uint64_t limit = d->usable_bytes + d->headroom_bytes, held = d->resident_bytes + d->window_bytes;
    room = std::min(room, limit > held ? limit - held : 0);
  }
  return room;
}

void Session::Impl::step(std::string_view component, const std::function<void()>& body, std::uint64_t activation_bytes,
                         const Lighter& lighter) {
  const std::size_t c = component_index(component);
  const Component& graph = model->graph.components[c];
  if (activation_bytes == 0) activation_bytes = activation_headroom(graph, request.workload);
  while (true) {
    if (!executor)
      throw JobError("the session holds no model (it was unloaded, or a fallback found none)", "open the model again");
    // The GPUs this component runs on hold its activations while the step runs.
    std::vector<int> gpus;
    for (const auto& unit : graph.units)
      if (const auto* p = result->placement.find(graph.name, unit.name);
          p && p->executes_on.is_gpu() && std::find(gpus.begin(), gpus.end(), p->executes_on.index) == gpus.end())
        gpus.push_back(p->executes_on.index);
    c10::Device device(c10::kCPU);
    if (!graph.units.empty()) device = executor->device_of(executor->flat_index(c, 0));
    std::size_t begun = 0;
    auto end_gpu_steps = [&] {
      for (std::size_t g = 0; g < begun; ++g) runtime->end_step(gpus[g]);
      begun = 0;
    };
    std::optional<OutOfMemory> out_of_memory;
    try {
      std::map<int, std::uint64_t> retries_before;
      for (int gpu : gpus) {
        runtime->begin_step(gpu, activation_bytes);
        ++begun;
        runtime->reset_peak(gpu);
        retries_before[gpu] = runtime->snapshot(gpu).allocator_retries;
      }
      executor->begin_step();
      const auto started = std::chrono::steady_clock::now();
      body();
      const Executor::StepFigures figures = executor->end_step();
      StepStatistics stats;
      stats.component = graph.name;
      stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      stats.compute_seconds = figures.compute_seconds;
      stats.copy_wait_seconds = figures.copy_wait_seconds;
      stats.streamed_bytes = figures.streamed_bytes;
      stats.unprefetched_units = figures.unprefetched_units;
      stats.activation_bytes = activation_bytes;
      for (int gpu : gpus) {
        const MemorySnapshot snap = runtime->snapshot(gpu);
        const std::string name = DeviceId::gpu(gpu).str();
        stats.peak_bytes[name] = snap.peak_in_use;
        stats.reserved_peak_bytes[name] = snap.reserved_peak;
        if (snap.process_peak > 0) stats.process_peak_bytes[name] = snap.process_peak;
        stats.allocator_retries[name] = snap.allocator_retries - retries_before[gpu];
      }
      steps.push_back(stats);
      end_gpu_steps();
      return;
    } catch (const c10::OutOfMemoryError& e) {
      out_of_memory.emplace(as_out_of_memory(e, device, *runtime));
    } catch (const OutOfMemory& e) {
      out_of_memory.emplace(e);
    } catch (...) {
      // Whatever else the body threw is the caller's: the step is abandoned, its accounting undone.
      end_gpu_steps();
      executor->abandon_step();
      throw;
    }
    end_gpu_steps();
    if (lighter) {
      if (const auto lighter_bytes = lighter(*out_of_memory)) {
        log::warn("a step of ", graph.name, " ran out of memory: ", out_of_memory->what(),
                  "; running it again in a way that needs less");
        executor->abandon_step();
        runtime->release_cached();
        activation_bytes = *lighter_bytes;
        continue;
      }
    }
    log::warn("a step of ", graph.name, " ran out of memory: ", out_of_memory->what(), "; falling back");
    executor.reset();
    try {
      result.emplace(pipeline->fall_back(*result, *out_of_memory));
    } catch (const GuardFailure&) {
      result.reset();
      throw;
    }
    rebind();
    ++generation;
  }
}

Session::Session(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Session::~Session() = default;

std::unique_ptr<Session> Session::open(const std::string& model, const Options& options,
                                       std::function<void(std::uint64_t, std::uint64_t)> progress) {
  LoadRequest request = request_from_options(model, options, Work::load);
  InspectedModel inspected = inspect_requested(request);
  try {
    return std::make_unique<Session>(
        Impl::open(std::move(request), std::move(inspected), {std::move(progress), &stop_flag()}));
  } catch (const GuardFailure& failure) {
    // Applications catch the public types (vramguard/errors.hpp): nothing fitting is a MemoryError.
    if (failure.about_memory()) throw MemoryError(failure.what(), failure.hint());
    throw;
  }
}

const ModelDescription& Session::description() const { return impl_->description; }

std::vector<std::string> Session::components() const {
  std::vector<std::string> names;
  for (const auto& c : impl_->model->graph.components) names.push_back(c.name);
  return names;
}

const nlohmann::json* Session::config(std::string_view component) const {
  const auto& source = impl_->model->components.at(impl_->component_index(component)).source;
  return source.config ? &*source.config : nullptr;
}

std::vector<UnitInfo> Session::units(std::string_view component) const {
  if (!impl_->executor)
    throw JobError("the session holds no model (it was unloaded, or a fallback found none)", "open the model again");
  const std::size_t c = impl_->component_index(component);
  const Component& graph = impl_->model->graph.components[c];
  std::vector<UnitInfo> out;
  for (std::size_t u = 0; u < graph.units.size(); ++u) {
    const Unit& unit = graph.units[u];
    const UnitPlacement* placed = impl_->result->placement.find(graph.name, unit.name);
    UnitInfo info;
    info.name = unit.name;
    info.kind = std::string(unit_kind_name(unit.kind));
    info.slice_of = unit.slice_of;
    info.bytes = unit.bytes;
    info.mode = placed ? std::string(placement_mode_name(placed->mode)) : "";
    info.executes_on = placed ? placed->executes_on.str() : "";
    info.device = impl_->executor->device_of(impl_->executor->flat_index(c, u));
    for (const auto& tensor : unit.tensors) info.tensors.push_back(tensor.name);
    out.push_back(std::move(info));
  }
  return out;
}

std::optional<std::size_t> Session::find_unit(std::string_view component, std::string_view unit) const {
  const Component& graph = impl_->model->graph.components[impl_->component_index(component)];
  for (std::size_t u = 0; u < graph.units.size(); ++u)
    if (graph.units[u].name == unit) return u;
  return std::nullopt;
}

std::vector<std::size_t> Session::module_units(std::string_view component, std::string_view module) const {
  const Component& graph = impl_->model->graph.components[impl_->component_index(component)];
  std::vector<std::size_t> out;
  for (std::size_t u = 0; u < graph.units.size(); ++u)
    if (graph.units[u].name == module || graph.units[u].slice_of == module) out.push_back(u);
  if (out.empty()) throw InputError(std::string(component), "has no unit '" + std::string(module) + "'");
  return out;
}

c10::ScalarType Session::dtype(std::string_view component) const {
  return compute_dtype(impl_->model->graph.components[impl_->component_index(component)],
                       impl_->model->graph.target_dtype);
}

ComputeTarget compute_target(c10::ScalarType dtype, bool on_gpus) {
#if VRAMGUARD_CUDA_KERNELS
  return {dtype, on_gpus, {}};
#else
  (void)on_gpus;
  return {dtype, false, {}};
#endif
}

ComputeTarget Session::compute_target(std::string_view component) const {
  if (!impl_->executor)
    throw JobError("the session holds no model (it was unloaded, or a fallback found none)", "open the model again");
  const std::size_t c = impl_->component_index(component);
  bool on_gpus = false, every_gpu_multiplies_fp8 = true;
  for (std::size_t u = 0; u < impl_->model->graph.components[c].units.size(); ++u) {
    const c10::Device device = impl_->executor->device_of(impl_->executor->flat_index(c, u));
    on_gpus = on_gpus || device.is_cuda();
    every_gpu_multiplies_fp8 = every_gpu_multiplies_fp8 &&
                               (!device.is_cuda() || impl_->fp8_matmul_gpus.count(static_cast<int>(device.index())));
  }
  ComputeTarget target = runtime::compute_target(dtype(component), on_gpus);
  // Counted fp8 only where each GPU running the component multiplies fp8: a step's activations are
  // its largest call's, wherever it runs.
  if (target.fused_kernels && every_gpu_multiplies_fp8)
    target.fp8_matmul_weights = e4m3_weights(*impl_->model, std::string(component));
  return target;
}

UnitScope Session::unit(std::string_view component, std::size_t index) {
  if (!impl_->executor)
    throw JobError("the session holds no model (it was unloaded, or a fallback found none)", "open the model again");
  const std::size_t c = impl_->component_index(component);
  const std::size_t count = impl_->model->graph.components[c].units.size();
  if (index >= count)
    throw UsageError("component '" + std::string(component) + "' has " + std::to_string(count) + " units, not " +
                     std::to_string(index + 1));
  const std::size_t flat = impl_->executor->flat_index(c, index);
  return UnitScope(this, flat, &impl_->executor->acquire(flat));
}

UnitScope Session::unit(std::string_view component, std::string_view name) {
  const auto index = find_unit(component, name);
  if (!index) throw InputError(std::string(component), "has no unit '" + std::string(name) + "'");
  return unit(component, *index);
}

void Session::step(std::string_view component, const std::function<void()>& body, std::uint64_t activation_bytes) {
  step(component, body, activation_bytes, Lighter{});
}

void Session::step(std::string_view component, const std::function<void()>& body, std::uint64_t activation_bytes,
                   const Lighter& lighter) {
  Impl::Lighter own;
  if (lighter) own = [&lighter](const OutOfMemory& e) { return lighter(e); };
  try {
    impl_->step(component, body, activation_bytes, own);
  } catch (const GuardFailure& failure) {
    if (!failure.about_memory()) throw;
    // Kept for the CLI's runs (runtime/library), which write the guard's report with the failure.
    impl_->memory_failure.emplace(failure);
    throw MemoryError(failure.what(), failure.hint());
  }
}

std::uint64_t Session::activation_room_bytes(std::string_view component) const {
  return impl_->activation_room_bytes(component);
}

const std::vector<StepStatistics>& Session::steps() const { return impl_->steps; }

std::uint64_t Session::generation() const { return impl_->generation; }

std::string Session::strategy() const { return impl_->result ? impl_->result->placement.strategy : std::string{}; }

std::string Session::report_json() const {
  nlohmann::json doc;
  if (impl_->result) doc = guard_report_json(impl_->result->report);
  // Per component: how many steps, their median time and the bytes each streamed (a pipeline runs its
  // components in turn, each its own steps).
  std::map<std::string, std::vector<const StepStatistics*>> by_component;
  for (const auto& s : impl_->steps) by_component[s.component].push_back(&s);
  doc["components"] = nlohmann::json::object();
  for (auto& [name, steps] : by_component) {
    std::vector<double> seconds;
    std::uint64_t streamed = 0;
    nlohmann::json peaks = nlohmann::json::object(), process_peaks = nlohmann::json::object();
    auto fold = [](nlohmann::json& into, const std::map<std::string, std::uint64_t>& step) {
      for (const auto& [device, bytes] : step) into[device] = std::max(into.value(device, std::uint64_t{0}), bytes);
    };
    for (const auto* s : steps) {
      seconds.push_back(s->seconds), streamed += s->streamed_bytes;
      fold(peaks, s->peak_bytes);
      fold(process_peaks, s->process_peak_bytes);
    }
    std::sort(seconds.begin(), seconds.end());
    // process_peak_bytes: the whole process as the driver counts it (NVML at 50 Hz), the figure a cap holds to.
    doc["components"][name] = {{"steps", steps.size()},
                               {"median_step_seconds", seconds[seconds.size() / 2]},
                               {"total_seconds", std::accumulate(seconds.begin(), seconds.end(), 0.0)},
                               {"streamed_bytes_per_step", streamed / steps.size()},
                               {"peak_bytes", peaks},
                               {"process_peak_bytes", process_peaks}};
  }
  doc["steps"] = nlohmann::json::array();
  for (const auto& s : impl_->steps)
    doc["steps"].push_back({{"component", s.component},
                            {"seconds", s.seconds},
                            {"compute_seconds", s.compute_seconds},
                            {"copy_wait_seconds", s.copy_wait_seconds},
                            {"streamed_bytes", s.streamed_bytes},
                            {"unprefetched_units", s.unprefetched_units},
                            {"allocator_retries", s.allocator_retries},
                            {"peak_bytes", s.peak_bytes}});
  return doc.dump(2);
}

void Session::unload() { impl_->unload(); }

UnitScope::UnitScope(Session* session, std::size_t unit, const UnitTensors* tensors)
    : session_(session), unit_(unit), tensors_(tensors) {}

UnitScope::UnitScope(UnitScope&& other) noexcept
    : session_(other.session_), unit_(other.unit_), tensors_(other.tensors_) {
  other.session_ = nullptr;
}

UnitScope::~UnitScope() { release(); }

void UnitScope::release() {
  if (session_ == nullptr) return;
  Session* session = session_;
  session_ = nullptr;
  if (session->impl().executor) session->impl().executor->release(unit_);
}

const std::string& UnitScope::name() const { return tensors_->name; }
std::int64_t UnitScope::first_row() const { return tensors_->first_row; }
c10::Device UnitScope::device() const { return tensors_->device; }

const std::map<std::string, at::Tensor, std::less<>>& UnitScope::tensors() const { return tensors_->by_name; }

at::Tensor UnitScope::linear(std::string_view module, const at::Tensor& x, LinearInput input) const {
  PreparedLinearInput prepared(x, input);
  return linear(module, prepared);
}

at::Tensor UnitScope::linear(std::string_view module, PreparedLinearInput& prepared) const {
  const at::Tensor& x = prepared.input();
  const std::string relative = std::string(module) + ".weight";
  const std::string full =
      tensors_->by_name.count(relative) ? relative : tensors_->prefix + "." + std::string(module) + ".weight";
  const std::string stem = full.substr(0, full.size() - 6);  // "<module>."
  at::Tensor weight = (*this)[full];
  const at::Tensor bias = has(stem + "bias") ? (*this)[stem + "bias"] : at::Tensor();
  std::optional<at::Tensor> fp8_out;
  if (const auto stored = tensors_->fp8.find(full); stored != tensors_->fp8.end()) {
    const std::string scale_name = fp8_scale_name(stem.substr(0, stem.size() - 1));
    const at::Tensor scale = has(scale_name) ? (*this)[scale_name] : at::Tensor();
    const auto& fp8_gpus = session_->impl().fp8_matmul_gpus;
    if (stored->second == DType::F8_E4M3 && x.is_cuda() && fp8_gpus.count(static_cast<int>(x.get_device())))
      fp8_out = prepared.fp8_linear(weight, scale, bias);
    if (!fp8_out) weight = dequantized(weight, stored->second, scale, x.scalar_type());
  }
  at::Tensor out = fp8_out ? *fp8_out : at::linear(prepared.activated(), weight, bias);
  if (tensors_->adapters == nullptr) return out;
  const auto [begin, end] = tensors_->adapters->equal_range(full);
  for (auto it = begin; it != end; ++it) {
    const LoraAdapter& adapter = *it->second;
    const double scale = session_->impl().adapter_scale(adapter);
    if (scale == 0) continue;
    // PEFT's order (the input in the adapter's dtype), added into the layer's output in place: no
    // output-sized temporary beside the layer's own, only the [tokens, rank] one.
    const at::Tensor& down = (*this)[adapter.down];
    const at::Tensor& up = (*this)[adapter.up];
    const at::Tensor low = at::linear(prepared.activated().to(down.scalar_type()), down).to(out.scalar_type());
    out.view({-1, out.size(-1)}).addmm_(low.reshape({-1, low.size(-1)}), up.to(out.scalar_type()).t(), 1.0, scale);
  }
  return out;
}

bool UnitScope::has(std::string_view name) const {
  if (tensors_->by_name.count(name)) return true;
  return tensors_->by_name.count(tensors_->prefix + "." + std::string(name)) > 0;
}

const at::Tensor& UnitScope::operator[](std::string_view name) const {
  if (const auto it = tensors_->by_name.find(name); it != tensors_->by_name.end()) return it->second;
  if (const auto it = tensors_->by_name.find(tensors_->prefix + "." + std::string(name)); it != tensors_->by_name.end())
    return it->second;
  throw InputError(tensors_->prefix,
                   "has no tensor '" + std::string(name) + "' (" + tensors_->prefix + "." + std::string(name) + ")",
                   "the checkpoint lacks a weight this architecture needs; it is damaged, or of another architecture");
}

}  // namespace vramguard::runtime
