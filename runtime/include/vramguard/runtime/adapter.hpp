#pragma once
// An adapter runs one architecture's forward pass against the runtime API: it asks the Session for
// each unit in forward order (a UnitScope) and computes with the tensors it hands out. The built-in
// adapters are written exactly so (docs/running-a-model.md walks through writing one).
#include <cstdint>
#include <ATen/core/Tensor.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "vramguard/runtime/export.hpp"
#include "vramguard/runtime/session.hpp"

namespace vramguard::runtime {

struct ForwardResult {
  at::Tensor logits;                             // [batch, tokens, vocabulary]
  std::map<std::string, at::Tensor> captures;    // intermediate states asked for, e.g. "hidden_after_layer_0"
};

class VRAMGUARD_RUNTIME_API Adapter {
 public:
  virtual ~Adapter() = default;
  virtual std::string name() const = 0;
  // Whether this adapter runs `component` (by its config's class names).
  virtual bool handles(const ModelDescription& model, const std::string& component) const = 0;
  // Checks, before anything loads, what it can: the tensors it needs, the vocabulary and the positions
  // for these token ids. Throws an InputError naming the problem.
  virtual void check(const ModelDescription& model, const std::string& component, const at::Tensor& input_ids) const = 0;
  // The number of token ids the model knows (ids run from 0 to this, exclusive).
  virtual std::int64_t vocabulary_size(const ModelDescription& model, const std::string& component) const = 0;
  // One forward pass over `input_ids` ([batch, tokens], int64). `capture` names intermediate states to
  // return in ForwardResult::captures.
  virtual ForwardResult forward(Session& session, const std::string& component, const at::Tensor& input_ids,
                                const std::vector<std::string>& capture = {}) = 0;
};

// The built-in adapters ("qwen2": Qwen2, Qwen2.5 and Qwen2.5-VL's language model on text).
VRAMGUARD_RUNTIME_API std::vector<std::shared_ptr<Adapter>> builtin_adapters();

}  // namespace vramguard::runtime
