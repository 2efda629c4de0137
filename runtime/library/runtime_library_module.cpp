// The runtime library's side of `vramguard run` and `compare --measure` (host/run/runtime_library.hpp):
// a Session opened for the CLI's request, each component run by its family (architectures/), the
// session's report handed back.
#include <ATen/Functions.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <cstdio>
#include <optional>

#include "core/errors.hpp"
#if VRAMGUARD_CUDA_RUNTIME
#include "devices/cuda/cuda_profiler.hpp"
#endif
#include "logging/log.hpp"
#include "fp8_weights.hpp"
#include "model_description.hpp"
#include "vramguard/runtime/named_tensor_files.hpp"
#include "pipeline_runner.hpp"
#include "run/runtime_library.hpp"
#include "session_impl.hpp"
#include "torch_tensors.hpp"
#include "vramguard/cost_model.hpp"
#include "vramguard/runtime/architecture.hpp"

namespace vramguard::runtime {
namespace {

// libtorch's own error reaches the CLI (which never links libtorch) as a JobError with its message alone:
// c10::Error's what() carries dozens of frames of addresses that tell a user nothing. Anything libtorch
// refuses has passed every check vramguard makes first, so it is vramguard's bug to report.
JobError as_job_error(const c10::Error& e) {
  return JobError(std::string("libtorch: ") + e.what_without_backtrace(),
                  "this is a bug in vramguard: report it with the command that ran and the model's config.json");
}

// Every call the CLI makes into this library goes through here (the interface table below).
template <auto Function>
struct TorchErrorsAsJobErrors;
template <typename Result, typename... Arguments, Result (*Function)(Arguments...)>
struct TorchErrorsAsJobErrors<Function> {
  static Result call(Arguments... arguments) {
    try {
      return Function(std::forward<Arguments>(arguments)...);
    } catch (const c10::Error& e) {
      throw as_job_error(e);
    }
  }
};

// One call to make: a component, the family that runs it, the entry and its inputs.
struct Call {
  std::string component;
  std::shared_ptr<const Architecture> architecture;
  EntryPoint entry;
};

std::string family_names() {
  std::string names;
  for (const auto& a : builtin_architectures()) names += (names.empty() ? "" : ", ") + a->name();
  return names;
}

std::vector<Call> calls_for(const ModelDescription& model, const RunSettings& settings) {
  std::vector<Call> calls;
  if (settings.component) {
    const ComponentDescription* c = model.find(*settings.component);
    if (c == nullptr) {
      std::string names;
      for (const auto& component : model.components) names += (names.empty() ? "" : ", ") + component.name;
      throw InputError("--component " + *settings.component, "is not a component of " + model.source,
                       "its components: " + names);
    }
    auto architecture = architecture_for(*c);
    if (!architecture) {
      std::string classes;
      for (const auto& cls : c->classes) classes += (classes.empty() ? "" : ", ") + cls;
      throw InputError(model.source,
                       "component " + c->name + " (" + (classes.empty() ? std::string("no known class") : classes) +
                           ") has no native architecture",
                       "vramguard runs: " + family_names() + "; docs/running-a-model.md shows how to add one");
    }
    calls.push_back({c->name, architecture, architecture->entry(settings.entry.value_or(""))});
    return calls;
  }
  for (const auto& c : model.components) {
    auto architecture = architecture_for(c);
    if (!architecture) continue;
    if (settings.every_component && !settings.entry) {
      for (const auto& e : architecture->entries()) calls.push_back({c.name, architecture, e});
    } else {
      calls.push_back({c.name, architecture, architecture->entry(settings.entry.value_or(""))});
    }
    if (!settings.every_component) break;
  }
  if (calls.empty()) {
    std::string classes;
    for (const auto& component : model.components)
      for (const auto& cls : component.classes) classes += (classes.empty() ? "" : ", ") + cls;
    throw InputError(model.source,
                     "has no component vramguard runs natively (its classes: " +
                         (classes.empty() ? std::string("unknown") : classes) + ")",
                     "vramguard runs: " + family_names() +
                         "; docs/running-a-model.md shows how to add a family with the runtime API");
  }
  return calls;
}

// The inputs of one call: from --input, by name, or seeded ones of the workload's shape.
NamedTensors inputs_for(const ModelDescription& model, const Call& call, const RunSettings& settings) {
  const ComponentDescription& component = *model.find(call.component);
  NamedTensors inputs;
  if (settings.input) {
    if (settings.batch > 1 || settings.tokens > 0 || settings.height > 0 || settings.width > 0)
      throw UsageError(
          "--input gives the inputs' shapes: --batch, --tokens, --height and --width describe generated inputs only",
          "drop them, or drop --input");
    const NamedTensors file = read_named_tensors(*settings.input);
    for (const auto& name : call.entry.inputs)
      if (!file.count(name)) {
        std::string held;
        for (const auto& [n, t] : file) held += (held.empty() ? "" : ", ") + n;
        throw InputError(settings.input->string(),
                         "holds no tensor named '" + name + "', which " + call.architecture->name() + " " +
                             call.entry.name + " needs (it holds: " + (held.empty() ? std::string("nothing") : held) +
                             ")",
                         "name the inputs as the library names its arguments; vramguard help run lists each entry's");
      }
    // A file may hold several entries' inputs (the fixtures do): take the ones this entry knows.
    for (const auto& [name, tensor] : file) {
      const bool known = std::count(call.entry.inputs.begin(), call.entry.inputs.end(), name) ||
                         std::count(call.entry.optional_inputs.begin(), call.entry.optional_inputs.end(), name);
      if (known) inputs.emplace(name, tensor);
    }
  } else {
    inputs = call.architecture->example_inputs(
        component, call.entry.name, {settings.batch, settings.tokens, settings.height, settings.width, settings.seed});
  }
  call.architecture->check(component, call.entry.name, inputs);
  return inputs;
}

// Where the model's component computes, before there is a session: on the GPUs, or on the CPU for
// simulated ones (a session asks its own units: Session::compute_target).
ComputeTarget target_before_load(const InspectedModel& model, const std::string& component, ComputeOn compute) {
  ComputeTarget target =
      compute_target(compute_dtype(*model.graph.find_component(component), model.graph.target_dtype), compute.gpus);
  // fp8 matmuls as the session will resolve --fp8-compute (refusing `on` where they cannot run, before
  // anything loads), counted only where every GPU has them: the plan may run a unit on any.
  if (target.fused_kernels && fp8_matmuls_on_every_gpu(compute.fp8_compute, model, !compute.gpus))
    target.fp8_matmul_weights = e4m3_weights(model, component);
  return target;
}

std::uint64_t check_job(const InspectedModel& model, const RunSettings& settings, ComputeOn compute) {
  const ModelDescription description = describe(model);
  std::uint64_t activations = 0;
  for (const Call& call : calls_for(description, settings)) {
    const NamedTensors inputs = inputs_for(description, call, settings);
    activations = std::max(
        activations, call.architecture->activation_bytes(*description.find(call.component), call.entry.name, inputs,
                                                         target_before_load(model, call.component, compute)));
  }
  return activations;
}

// settings.steps calls of one entry in the session: their step records and peaks.
RunOutcome run_call(Session& session, const Call& call, const RunSettings& settings, const std::atomic<bool>* cancel,
                    NamedTensors& last_outputs) {
  Session::Impl& impl = session.impl();
  // The inputs wait where the component's first unit executes, as a pipeline's latents would: a copy
  // from the host inside a step would queue behind the window's prefetches.
  NamedTensors inputs = inputs_for(session.description(), call, settings);
  const std::vector<UnitInfo> units = session.units(call.component);
  if (!units.empty())
    for (auto& [name, tensor] : inputs) tensor = tensor.to(units.front().device);
  const std::uint64_t activations =
      call.architecture->activation_bytes(*session.description().find(call.component), call.entry.name, inputs,
                                          session.compute_target(call.component)) +
      default_cost_constants().workspace_bytes;
  const std::size_t gpus = impl.runtime->probe_gpus().size();
  for (std::size_t g = 0; g < gpus; ++g) impl.runtime->reset_peak(static_cast<int>(g));
  const std::size_t first_step = impl.steps.size();
  RunOutcome outcome;
  outcome.architecture = call.architecture->name();
  outcome.component = call.component;
  outcome.entry = call.entry.name;
  outcome.batch = static_cast<std::uint64_t>(inputs.begin()->second.size(0));
  outcome.tokens = call.architecture->tokens(inputs);
  const std::uint64_t steps = std::max<std::uint64_t>(1, settings.steps);
  for (std::uint64_t step = 0; step < steps; ++step) {
    if (cancel && cancel->load()) throw Interrupted("the run was interrupted");
    // The last call written with --output carries the entry's intermediate states too.
    const bool last_written = settings.output && step + 1 == steps;
    const std::vector<std::string> captures = last_written ? call.entry.captures : std::vector<std::string>{};
    // Impl::step, not Session::step: a failure keeps the guard's report for the CLI.
    impl.step(
        call.component,
        [&] { last_outputs = call.architecture->run(session, call.component, call.entry.name, inputs, captures); },
        activations);
    const StepStatistics& s = impl.steps.back();
    outcome.steps.push_back(
        {s.seconds, s.compute_seconds, s.copy_wait_seconds, s.streamed_bytes, s.unprefetched_units});
  }
  // Each step measures its own peak (and resets it): the call's is the largest of them, and of what a
  // GPU no step ran on holds.
  for (std::size_t g = 0; g < gpus; ++g) {
    const MemorySnapshot snap = impl.runtime->snapshot(static_cast<int>(g));
    std::uint64_t peak = snap.peak_in_use;
    for (std::size_t s = first_step; s < impl.steps.size(); ++s)
      if (const auto it = impl.steps[s].peak_bytes.find(snap.device.str()); it != impl.steps[s].peak_bytes.end())
        peak = std::max(peak, it->second);
    outcome.peak_bytes[snap.device] = peak;
  }
  return outcome;
}

// --profile FILE: the job's steps, after its load, recorded by PyTorch's profiler (CUDA builds); the
// trace written to FILE when they are done, its summary added to the report's notes. A job that fails
// writes no trace.
class StepsProfile {
 public:
  explicit StepsProfile(std::string file) : file_(std::move(file)) {
    if (file_.empty()) return;
#if VRAMGUARD_CUDA_RUNTIME
    profiler_.emplace();
#else
    // The CLI refuses --profile before any work in such a build (profile_file_for).
    throw JobError("a profile was asked of a runtime library built without CUDA, which has no profiler",
                   "run without --profile");
#endif
  }

  void finish(GuardReport& report) {
#if VRAMGUARD_CUDA_RUNTIME
    if (!profiler_) return;
    cuda::ProfileSummary summary;
    try {
      summary = profiler_->finish(file_);
    } catch (const Error& e) {
      // The job's own results are still to be written: a profile that cannot be is said, not fatal.
      profiler_.reset();
      report.warnings.push_back(std::string("the profile was not written: ") + e.what());
      return;
    }
    profiler_.reset();
    const double span = summary.span_seconds > 0 ? summary.span_seconds : 1;
    auto percent_text = [](double share) {
      char text[16];
      std::snprintf(text, sizeof text, "%.1f %%", 100 * share);
      return std::string(text);
    };
    report.notes.push_back("profile: the trace of the job after its load is in " + file_ +
                           " (Perfetto, chrome://tracing); the GPU ran " + std::to_string(summary.kernels) +
                           " kernels, busy " + format_seconds(summary.gpu_busy_seconds) + " of " +
                           format_seconds(summary.span_seconds) + " (" + percent_text(summary.gpu_busy_seconds / span) +
                           "); its time by kernel:");
    constexpr std::size_t kShown = 12, kNameChars = 100;
    for (std::size_t i = 0; i < std::min(kShown, summary.by_time.size()); ++i) {
      const cuda::KernelTime& kernel = summary.by_time[i];
      const std::string name =
          kernel.name.size() > kNameChars ? kernel.name.substr(0, kNameChars - 3) + "..." : kernel.name;
      report.notes.push_back("profile:   " + percent_text(kernel.seconds / span) + "  " +
                             format_seconds(kernel.seconds) + "  " + std::to_string(kernel.calls) + "x  " + name);
    }
#else
    (void)report;
#endif
  }

 private:
  std::string file_;
#if VRAMGUARD_CUDA_RUNTIME
  std::optional<cuda::Profiler> profiler_;
#endif
};

RunResult run_job(const LoadRequest& request, const InspectedModel& model, const RunSettings& settings,
                  const RunHooks& hooks) {
  log::set_level(static_cast<log::Level>(hooks.log_level));
  const std::vector<Call> calls = calls_for(describe(model), settings);
  Session session(Session::Impl::open(request, model, {hooks.progress, hooks.cancel}));
  Session::Impl& impl = session.impl();
  RunResult result;
  NamedTensors last_outputs;
  StepsProfile profile(hooks.profile_file);
  try {
    for (const Call& call : calls)
      result.outcomes.push_back(run_call(session, call, settings, hooks.cancel, last_outputs));
  } catch (const Interrupted& e) {
    // As an interrupted load: everything released, the report complete.
    impl.unload();
    GuardReport report = impl.result ? impl.result->report : GuardReport{};
    report.success = false;
    throw GuardFailure(ExitCode::interrupted, e.what(), std::move(report));
  }
  if (settings.output) write_named_tensors(*settings.output, last_outputs);
  impl.unload();
  result.report = impl.result->report;
  profile.finish(result.report);
  return result;
}

pipelines::PipelineDemands check_pipeline_job(const InspectedModel& model, const pipelines::PipelineJob& job,
                                              ComputeOn compute) {
  return pipelines::pipeline_runner_for(job).demands(describe(model), job, [&](const std::string& component) {
    return target_before_load(model, component, compute);
  });
}

PipelineRun run_pipeline_job(const LoadRequest& request, const InspectedModel& model, const pipelines::PipelineJob& job,
                             const RunHooks& hooks, const std::function<void(const pipelines::PipelineStep&)>& on_step,
                             const ParallelLoad* parallel) {
  log::set_level(static_cast<log::Level>(hooks.log_level));
  const pipelines::PipelineRunner& runner = pipelines::pipeline_runner_for(job);
  Session session(Session::Impl::open(request, model, {hooks.progress, hooks.cancel}));
  Session::Impl& impl = session.impl();
  // The second GPU's load, after the first's. Where it does not fit after all (the GPU filled since it
  // was planned), the job runs both passes on the first load: each pass's activations are what that
  // load planned for, so it is as safe there, only slower. Ctrl-C and bad input end the job.
  std::optional<Session> second;
  std::optional<GuardReport> second_failed;
  if (parallel != nullptr) {
    try {
      second.emplace(Session::Impl::open(parallel->request, parallel->model, {hooks.progress, hooks.cancel}));
      second->impl().lora_scales = job.lora_scales;
    } catch (const GuardFailure& failure) {
      if (!failure.about_memory()) {
        impl.unload();
        throw;
      }
      log::warn("CFG-parallel: the second GPU's load of the ", parallel->request.inspect.components.at(0),
                " did not fit (", failure.what(), "); both passes run on the first load");
      second_failed = failure.report();
    }
  }
  PipelineRun result;
  impl.lora_scales = job.lora_scales;
  auto unload_all = [&] {
    if (second) second->impl().unload();
    impl.unload();
  };
  StepsProfile profile(hooks.profile_file);
  try {
    result.outcome = runner.run(session, second ? &*second : nullptr, job, on_step, hooks.cancel);
  } catch (const MemoryError&) {
    // The pipeline steps through the Session's public API, which reports the guard's failure as a
    // MemoryError; the CLI writes the guard's report with it.
    if (second) second->impl().unload();
    if (impl.memory_failure) throw GuardFailure(*impl.memory_failure);
    if (second && second->impl().memory_failure) throw GuardFailure(*second->impl().memory_failure);
    throw;
  } catch (const Interrupted& e) {
    unload_all();
    GuardReport report = impl.result ? impl.result->report : GuardReport{};
    report.success = false;
    throw GuardFailure(ExitCode::interrupted, e.what(), std::move(report));
  } catch (...) {
    if (second) second->impl().unload();
    throw;
  }
  unload_all();
  result.report = impl.result->report;
  profile.finish(result.report);
  if (second && second->impl().result) {
    result.parallel_report = second->impl().result->report;
    result.report.notes.push_back("CFG-parallel: a second load (" + result.parallel_report->final_strategy +
                                  ") holds the " + parallel->request.inspect.components.at(0) +
                                  " on another GPU for the negative passes");
  } else if (second_failed) {
    result.parallel_report = std::move(second_failed);
    result.report.warnings.push_back("CFG-parallel: the second GPU's load of the " +
                                     parallel->request.inspect.components.at(0) +
                                     " did not fit; both passes ran on the first load");
  }
  return result;
}

// `vramguard serve`'s session: opened once, each job run in it as run_pipeline_job runs its one.
class LoadedPipelineService final : public PipelineService {
 public:
  LoadedPipelineService(const LoadRequest& request, const InspectedModel& model, const RunHooks& hooks)
      : session_(Session::Impl::open(request, model, {hooks.progress, hooks.cancel})) {}

  std::shared_ptr<const pipelines::PipelineOutcome> run(
      const pipelines::PipelineJob& job, const std::function<void(const pipelines::PipelineStep&)>& on_step,
      const std::atomic<bool>* cancel) override {
    Session::Impl& impl = session_.impl();
    // Each job's step records go with its outcome; kept, they would grow with every job served.
    impl.steps.clear();
    // Its LoRA mix for this job alone: the next job starts from the scales the model was loaded with.
    impl.lora_scales = job.lora_scales;
    struct LoraScalesReset {
      Session::Impl& impl;
      ~LoraScalesReset() { impl.lora_scales.reset(); }
    } reset{impl};
    try {
      return pipelines::pipeline_runner_for(job).run(session_, nullptr, job, on_step, cancel);
    } catch (const MemoryError&) {
      if (impl.memory_failure) throw GuardFailure(*impl.memory_failure);
      throw;
    } catch (const c10::Error& e) {
      throw as_job_error(e);
    }
  }

  GuardReport report() const override {
    auto& impl = const_cast<Session&>(session_).impl();
    return impl.result ? impl.result->report : GuardReport{};
  }

  GuardReport unload() override {
    Session::Impl& impl = session_.impl();
    impl.unload();
    return impl.result ? impl.result->report : GuardReport{};
  }

 private:
  Session session_;
};

PipelineService* open_pipeline_service(const LoadRequest& request, const InspectedModel& model, const RunHooks& hooks) {
  log::set_level(static_cast<log::Level>(hooks.log_level));
  return new LoadedPipelineService(request, model, hooks);
}

std::vector<std::string> family_lines() {
  std::vector<std::string> lines;
  for (const auto& family : builtin_architectures()) {
    std::string line = family->name() + ":";
    for (const auto& entry : family->entries()) line += " " + entry.name + " (" + entry.summary + ");";
    line.pop_back();
    lines.push_back(line);
  }
  return lines;
}

const RuntimeLibraryInterface kInterface = {kRuntimeLibraryInterfaceVersion,
                                            0,
                                            0,
                                            &TorchErrorsAsJobErrors<&check_job>::call,
                                            &TorchErrorsAsJobErrors<&run_job>::call,
                                            &TorchErrorsAsJobErrors<&check_pipeline_job>::call,
                                            &TorchErrorsAsJobErrors<&run_pipeline_job>::call,
                                            &TorchErrorsAsJobErrors<&family_lines>::call,
                                            &TorchErrorsAsJobErrors<&open_pipeline_service>::call,
                                            nullptr};

}  // namespace

}  // namespace vramguard::runtime

// The one symbol the CLI looks up (host/run/runtime_library.cpp): the interface, with this build's
// layout figures for the CLI to compare with its own.
extern "C" __attribute__((visibility("default"))) const vramguard::RuntimeLibraryInterface*
vramguard_runtime_library() {
  static const vramguard::RuntimeLibraryInterface interface = [] {
    vramguard::RuntimeLibraryInterface filled = vramguard::runtime::kInterface;
    filled.layout_fingerprint = vramguard::runtime_library_layout_fingerprint();
    filled.device_runtime_fingerprint = vramguard::device_runtime_layout_fingerprint();
    filled.create_cuda_runtime = vramguard_create_cuda_runtime;
    return filled;
  }();
  return &interface;
}
