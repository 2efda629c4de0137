// The runtime library's side of `vramguard run` (host/run/model_runner.hpp): the CLI loads the model
// through the guard, then lends it here to be run by the family (architectures/) of each component.
#include <ATen/Functions.h>

#include <algorithm>

#include "core/errors.hpp"
#include "logging/log.hpp"
#include "model_description.hpp"
#include "named_tensor_files.hpp"
#include "run/model_runner.hpp"
#include "session_impl.hpp"
#include "torch_tensors.hpp"
#include "vramguard/cost_model.hpp"
#include "vramguard/runtime/architecture.hpp"

namespace vramguard::runtime {
namespace {

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
      throw InputError("--component " + *settings.component, "is not a component of " + model.source, "its components: " + names);
    }
    auto architecture = architecture_for(*c);
    if (!architecture) {
      std::string classes;
      for (const auto& cls : c->classes) classes += (classes.empty() ? "" : ", ") + cls;
      throw InputError(model.source, "component " + c->name + " (" + (classes.empty() ? std::string("no known class") : classes) +
                                         ") has no native architecture", "vramguard runs: " + family_names() + "; docs/running-a-model.md shows how to add one");
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
    throw InputError(model.source, "has no component vramguard runs natively (its classes: " + (classes.empty() ? std::string("unknown") : classes) + ")",
                     "vramguard runs: " + family_names() + "; docs/running-a-model.md shows how to add a family with the runtime API");
  }
  return calls;
}

// The inputs of one call: from --input, by name, or seeded ones of the workload's shape.
NamedTensors inputs_for(const ModelDescription& model, const Call& call, const RunSettings& settings) {
  const ComponentDescription& component = *model.find(call.component);
  NamedTensors inputs;
  if (settings.input) {
    if (settings.batch > 1 || settings.tokens > 0 || settings.height > 0 || settings.width > 0)
      throw UsageError("--input gives the inputs' shapes: --batch, --tokens, --height and --width describe generated inputs only",
                       "drop them, or drop --input");
    const NamedTensors file = read_named_tensors(*settings.input);
    for (const auto& name : call.entry.inputs)
      if (!file.count(name)) {
        std::string held;
        for (const auto& [n, t] : file) held += (held.empty() ? "" : ", ") + n;
        throw InputError(settings.input->string(), "holds no tensor named '" + name + "', which " + call.architecture->name() + " " +
                                                       call.entry.name + " needs (it holds: " + (held.empty() ? std::string("nothing") : held) + ")",
                         "name the inputs as the library names its arguments; vramguard help run lists each entry's");
      }
    // A file may hold several entries' inputs (the fixtures do): take the ones this entry knows.
    for (const auto& [name, tensor] : file) {
      const bool known = std::count(call.entry.inputs.begin(), call.entry.inputs.end(), name) ||
                         std::count(call.entry.optional_inputs.begin(), call.entry.optional_inputs.end(), name);
      if (known) inputs.emplace(name, tensor);
    }
  } else {
    inputs = call.architecture->example_inputs(component, call.entry.name, {settings.batch, settings.tokens, settings.height, settings.width, settings.seed});
  }
  call.architecture->check(component, call.entry.name, inputs);
  return inputs;
}

class TorchModelRunner final : public ModelRunner {
 public:
  std::vector<std::string> architectures() const override {
    std::vector<std::string> names;
    for (const auto& a : builtin_architectures()) names.push_back(a->name());
    return names;
  }

  std::uint64_t check(const InspectedModel& model, const RunSettings& settings) const override {
    const ModelDescription description = describe(model);
    std::uint64_t activations = 0;
    for (const Call& call : calls_for(description, settings)) {
      const NamedTensors inputs = inputs_for(description, call, settings);
      const Component& graph = *model.graph.find_component(call.component);
      activations = std::max(activations, call.architecture->activation_bytes(*description.find(call.component), call.entry.name, inputs,
                                                                              compute_dtype(graph, model.graph.target_dtype)));
    }
    return activations;
  }

  std::vector<RunOutcome> run(DeviceRuntime& runtime, const InspectedModel& model, const Placement& placement, LoadedModel& loaded,
                              const RunSettings& settings) override {
    Session session(Session::Impl::borrowing(runtime, model, placement, loaded));
    const std::size_t gpus = runtime.probe_gpus().size();
    std::vector<RunOutcome> outcomes;
    NamedTensors last_outputs;
    for (const Call& call : calls_for(session.description(), settings)) {
      // The inputs wait where the component's first unit executes, as a pipeline's latents would: a copy
      // from the host inside a step would queue behind the window's prefetches.
      NamedTensors inputs = inputs_for(session.description(), call, settings);
      const std::vector<UnitInfo> units = session.units(call.component);
      if (!units.empty())
        for (auto& [name, tensor] : inputs) tensor = tensor.to(units.front().device);
      const std::uint64_t activations =
          call.architecture->activation_bytes(*session.description().find(call.component), call.entry.name, inputs, session.dtype(call.component)) +
          default_cost_constants().workspace_bytes;
      for (std::size_t g = 0; g < gpus; ++g) runtime.reset_peak(static_cast<int>(g));
      const std::size_t first_step = session.steps().size();
      RunOutcome outcome;
      outcome.architecture = call.architecture->name();
      outcome.component = call.component;
      outcome.entry = call.entry.name;
      outcome.batch = static_cast<std::uint64_t>(inputs.begin()->second.size(0));
      outcome.tokens = call.architecture->tokens(inputs);
      const std::uint64_t steps = std::max<std::uint64_t>(1, settings.steps);
      for (std::uint64_t step = 0; step < steps; ++step) {
        if (settings.cancel && settings.cancel->load()) throw Interrupted("the run was interrupted");
        // The last call written with --output carries the entry's intermediate states too.
        const bool last_written = settings.output && step + 1 == steps;
        const std::vector<std::string> captures = last_written ? call.entry.captures : std::vector<std::string>{};
        session.step(call.component, [&] { last_outputs = call.architecture->run(session, call.component, call.entry.name, inputs, captures); },
                     activations);
        const StepStatistics& s = session.steps().back();
        outcome.steps.push_back({s.seconds, s.compute_seconds, s.copy_wait_seconds, s.streamed_bytes, s.unprefetched_units});
      }
      // Each step measures its own peak (and resets it): the call's is the largest of them, and of what
      // a GPU no step ran on holds.
      for (std::size_t g = 0; g < gpus; ++g) {
        const MemorySnapshot snap = runtime.snapshot(static_cast<int>(g));
        std::uint64_t peak = snap.peak_in_use;
        for (std::size_t s = first_step; s < session.steps().size(); ++s)
          if (const auto it = session.steps()[s].peak_bytes.find(snap.device.str()); it != session.steps()[s].peak_bytes.end())
            peak = std::max(peak, it->second);
        outcome.peak_bytes[snap.device] = peak;
      }
      outcomes.push_back(std::move(outcome));
    }
    if (settings.output) write_named_tensors(*settings.output, last_outputs);
    return outcomes;
  }
};

}  // namespace

// What the host checks before it uses anything the library makes (host/run/model_runner.cpp).
struct LibraryInterface {
  int interface_version;
  std::uint64_t layout_fingerprint;
  std::uint64_t device_runtime_fingerprint;
};

}  // namespace vramguard::runtime

extern "C" __attribute__((visibility("default"))) vramguard::runtime::LibraryInterface vramguard_model_runner_interface() {
  return {vramguard::kModelRunnerInterfaceVersion, vramguard::model_runner_layout_fingerprint(),
          vramguard::device_runtime_layout_fingerprint()};
}

extern "C" __attribute__((visibility("default"))) vramguard::ModelRunner* vramguard_create_model_runner(int log_level) {
  vramguard::log::set_level(static_cast<vramguard::log::Level>(log_level));
  return new vramguard::runtime::TorchModelRunner();
}
