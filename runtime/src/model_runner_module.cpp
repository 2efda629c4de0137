// The runtime library's side of `vramguard run` (host/run/model_runner.hpp): the CLI loads the model
// through the guard, then lends it here to be run by the adapter for its architecture.
#include <ATen/Functions.h>

#include <algorithm>
#include <fcntl.h>
#include <random>
#include <unistd.h>

#include "core/errors.hpp"
#include "core/tensor_read.hpp"
#include "logging/log.hpp"
#include "model/safetensors_header.hpp"
#include "model/safetensors_writer.hpp"
#include "model_description.hpp"
#include "run/model_runner.hpp"
#include "session_impl.hpp"
#include "vramguard/runtime/adapter.hpp"
#include "torch_tensors.hpp"

namespace vramguard::runtime {
namespace {

constexpr std::uint64_t kDefaultTokens = 128;

struct Match {
  std::shared_ptr<Adapter> adapter;
  std::string component;
};

Match match(const ModelDescription& model) {
  for (const auto& adapter : builtin_adapters())
    for (const auto& component : model.components)
      if (adapter->handles(model, component.name)) return {adapter, component.name};
  std::string classes, names;
  for (const auto& component : model.components)
    for (const auto& cls : component.classes) classes += (classes.empty() ? "" : ", ") + cls;
  for (const auto& adapter : builtin_adapters()) names += (names.empty() ? "" : ", ") + adapter->name();
  throw InputError(model.source, "has no adapter to run it (its architecture: " + (classes.empty() ? std::string("unknown") : classes) + ")",
                   "vramguard run knows: " + names + "; docs/running-a-model.md shows how to write an adapter with the runtime API");
}

// The token ids to run: from --input, or seeded ones of the asked shape.
at::Tensor input_ids(const RunSettings& settings, std::int64_t vocabulary) {
  if (settings.input) {
    const std::string path = settings.input->string();
    const SafetensorsHeader header = read_safetensors_header(path);
    const auto it = std::find_if(header.tensors.begin(), header.tensors.end(), [](const auto& t) { return t.name == "input_ids"; });
    if (it == header.tensors.end()) throw InputError(path, "holds no tensor named input_ids");
    if (it->dtype != DType::I64 && it->dtype != DType::I32) throw InputError(path, "input_ids must be I64 or I32, not " + std::string(dtype_name(it->dtype)));
    if (it->shape.size() != 2) throw InputError(path, "input_ids must be [batch, tokens]");
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw InputError(path, "cannot open");
    at::Tensor ids = at::empty(it->shape, at::TensorOptions().dtype(it->dtype == DType::I64 ? at::kLong : at::kInt));
    try {
      read_exact(fd, header.data_offset + it->begin, it->bytes(), static_cast<unsigned char*>(ids.data_ptr()), path);
    } catch (...) {
      ::close(fd);
      throw;
    }
    ::close(fd);
    return ids.to(at::kLong);
  }
  const std::uint64_t tokens = settings.tokens > 0 ? settings.tokens : kDefaultTokens;
  std::mt19937_64 rng(settings.seed);
  std::vector<std::int64_t> values(settings.batch * tokens);
  for (auto& v : values) v = static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(vocabulary));
  return at::from_blob(values.data(), {static_cast<std::int64_t>(settings.batch), static_cast<std::int64_t>(tokens)}, at::kLong).clone();
}

DType dtype_of(c10::ScalarType type) {
  switch (type) {
    case c10::kFloat: return DType::F32;
    case c10::kBFloat16: return DType::BF16;
    case c10::kHalf: return DType::F16;
    case c10::kDouble: return DType::F64;
    default: throw JobError("logits of an unexpected dtype");
  }
}

class TorchModelRunner final : public ModelRunner {
 public:
  std::vector<std::string> adapters() const override {
    std::vector<std::string> names;
    for (const auto& adapter : builtin_adapters()) names.push_back(adapter->name());
    return names;
  }

  void check(const InspectedModel& model, const RunSettings& settings) const override {
    const ModelDescription description = describe(model);
    const Match m = match(description);
    m.adapter->check(description, m.component, input_ids(settings, m.adapter->vocabulary_size(description, m.component)));
  }

  RunOutcome run(DeviceRuntime& runtime, const InspectedModel& model, const Placement& placement, LoadedModel& loaded,
                 const RunSettings& settings) override {
    Session session(Session::Impl::borrowing(runtime, model, placement, loaded));
    const Match m = match(session.description());
    const at::Tensor ids = input_ids(settings, m.adapter->vocabulary_size(session.description(), m.component));
    m.adapter->check(session.description(), m.component, ids);
    const Component& component = *model.graph.find_component(m.component);
    const std::uint64_t tokens = static_cast<std::uint64_t>(ids.numel());
    const auto activations = static_cast<std::uint64_t>(component.activation_bytes_per_token * static_cast<double>(tokens)) +
                             default_cost_constants().workspace_bytes;
    const std::size_t gpus = runtime.probe_gpus().size();
    for (std::size_t g = 0; g < gpus; ++g) runtime.reset_peak(static_cast<int>(g));
    RunOutcome outcome;
    outcome.adapter = m.adapter->name();
    outcome.component = m.component;
    outcome.batch = static_cast<std::uint64_t>(ids.size(0));
    outcome.tokens = static_cast<std::uint64_t>(ids.size(1));
    ForwardResult last;
    for (std::uint64_t step = 0; step < std::max<std::uint64_t>(1, settings.steps); ++step) {
      if (settings.cancel && settings.cancel->load()) throw Interrupted("the run was interrupted");
      session.step(m.component, [&] { last = m.adapter->forward(session, m.component, ids); }, activations);
      const StepStatistics& s = session.steps().back();
      outcome.steps.push_back({s.seconds, s.compute_seconds, s.copy_wait_seconds, s.streamed_bytes});
    }
    // Each step measures its own peak (and resets it): the run's is the largest of them, and of what a
    // GPU no step ran on holds.
    for (std::size_t g = 0; g < gpus; ++g) {
      const MemorySnapshot snap = runtime.snapshot(static_cast<int>(g));
      std::uint64_t peak = snap.peak_in_use;
      for (const auto& s : session.steps())
        if (const auto it = s.peak_bytes.find(snap.device.str()); it != s.peak_bytes.end()) peak = std::max(peak, it->second);
      outcome.peak_bytes[snap.device] = peak;
    }
    if (settings.output) {
      const at::Tensor logits = last.logits.to(at::kCPU).contiguous();
      write_safetensors(*settings.output, {{"logits", dtype_of(logits.scalar_type()),
                                            std::vector<std::int64_t>(logits.sizes().begin(), logits.sizes().end()), logits.data_ptr()}});
    }
    return outcome;
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
