#pragma once
// One of an edit's models as its stages call it (runtime side): its component, the family that runs it,
// the device and dtype its inputs take, and one call of an entry as a Session step.
#include <memory>
#include <string>
#include <utility>

#include "vramguard/runtime/architecture.hpp"
#include "vramguard/runtime/session.hpp"

namespace vramguard::pipelines {

struct Stage {
  std::string component;
  std::shared_ptr<const runtime::Architecture> architecture;
  c10::Device device{c10::kCPU};
  c10::ScalarType dtype = at::kFloat;
};

// The pipeline's component that `family` runs, and that family; InputError when it has none.
std::pair<const runtime::ComponentDescription*, std::shared_ptr<const runtime::Architecture>> component_for(
    const runtime::ModelDescription& model, const std::string& family);

Stage stage_for(runtime::Session& session, const std::string& family);

// The stage's entry as one Session step (activations accounted; out of memory: the guard's fallback).
// `check`: the inputs are checked against the config first (once per kind of call: a step's inputs
// differ from the last step's in their values only).
runtime::NamedTensors call(runtime::Session& session, const Stage& stage, const std::string& entry,
                           const runtime::NamedTensors& inputs, double* seconds, bool check = true);

}  // namespace vramguard::pipelines
