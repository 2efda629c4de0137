#pragma once
// An architecture runs one model family against the runtime API. It declares its entry points (a
// language model's forward; a VAE's encode and decode), each taking named input tensors and returning
// named output tensors, checks inputs against the component's config before anything loads, and runs
// an entry by asking the Session for each unit in forward order (a UnitScope) and computing with the
// tensors it hands out. The built-in families live in architectures/, one folder each;
// docs/running-a-model.md walks through adding one.
#include <cstdint>
#include <ATen/core/Tensor.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "vramguard/runtime/export.hpp"
#include "vramguard/runtime/session.hpp"

namespace vramguard::runtime {

// Tensors by name: an entry's inputs (named as the library's forward arguments) and its outputs.
using NamedTensors = std::map<std::string, at::Tensor>;

struct EntryPoint {
  std::string name;                          // "forward", "encode", "decode"
  std::vector<std::string> inputs;           // required
  std::vector<std::string> optional_inputs;  // used when given
  std::vector<std::string> outputs;          // always returned
  std::vector<std::string> captures;         // intermediate states returned when asked for
  std::string summary;                       // one line for help texts and errors
};

// The size of a workload when no inputs are given: seeded inputs of this shape.
struct WorkloadShape {
  std::uint64_t batch = 1;
  std::uint64_t tokens = 0;  // text tokens; 0: the family's default
  std::uint64_t height = 0;  // pixels, for image models; 0: the family's default
  std::uint64_t width = 0;
  std::uint64_t seed = 0;
};

class VRAMGUARD_RUNTIME_API Architecture {
 public:
  virtual ~Architecture() = default;
  virtual std::string name() const = 0;  // the family: "qwen2", "qwenimage_transformer"...
  // Whether this family runs `component` (by its config's class names).
  virtual bool handles(const ComponentDescription& component) const = 0;
  // The entry points; the first is the default.
  virtual std::vector<EntryPoint> entries() const = 0;
  // Refuses, before anything loads, what the entry cannot run: a missing or unknown input, a wrong
  // dtype or shape against the config, a tensor the checkpoint lacks. Throws InputError naming it.
  virtual void check(const ComponentDescription& component, const std::string& entry,
                     const NamedTensors& inputs) const = 0;
  // Seeded inputs of the workload's shape, valid for check().
  virtual NamedTensors example_inputs(const ComponentDescription& component, const std::string& entry,
                                      const WorkloadShape& shape) const = 0;
  // The activation bytes one call of the entry holds at most on its device, predicted from its inputs
  // (what the step accounts before it runs).
  virtual std::uint64_t activation_bytes(const ComponentDescription& component, const std::string& entry,
                                         const NamedTensors& inputs, const ComputeTarget& target) const = 0;
  // The tokens one call processes per sample (for tokens per second); 0 for image models.
  virtual std::uint64_t tokens(const NamedTensors& inputs) const {
    (void)inputs;
    return 0;
  }
  // Runs the entry. `capture` names intermediate states to add to the outputs. Call it inside
  // Session::step, which accounts the activations and falls back when a step runs out of memory.
  virtual NamedTensors run(Session& session, const std::string& component, const std::string& entry,
                           const NamedTensors& inputs, const std::vector<std::string>& capture = {}) const = 0;

  // The entry of that name ("" names the default); InputError listing the entries when there is none.
  EntryPoint entry(const std::string& name) const;
};

// The built-in families: qwen2, qwen2_5_vl, qwenimage_transformer, qwenimage_vae.
VRAMGUARD_RUNTIME_API const std::vector<std::shared_ptr<const Architecture>>& builtin_architectures();
// The family that runs a component; nullptr when none does.
VRAMGUARD_RUNTIME_API std::shared_ptr<const Architecture> architecture_for(const ComponentDescription& component);

}  // namespace vramguard::runtime
