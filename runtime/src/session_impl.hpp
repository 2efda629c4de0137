#pragma once
// What a Session holds: the guard's pipeline and the model it loaded (its own, or lent by the CLI's
// runner, which ran the guard itself), and the executor over it.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/invocation.hpp"
#include "executor.hpp"
#include "guard/guard_pipeline.hpp"
#include "model/model_inspector.hpp"
#include "vramguard/runtime/session.hpp"

namespace vramguard::runtime {

struct Session::Impl {
  // Owned by a session that opened the model itself (declared first: destroyed last).
  std::unique_ptr<Invocation> invocation;
  std::unique_ptr<InspectedModel> owned_model;
  std::unique_ptr<DeviceRuntime> owned_runtime;
  std::unique_ptr<PluginRegistry> registry;
  std::unique_ptr<GuardPipeline> pipeline;
  std::optional<GuardResult> result;
  std::string allocator;
  std::uint64_t tokens = 0;
  std::uint64_t batch = 1;
  std::uint64_t generation = 1;  // loads so far: open, then one per fallback

  // What runs.
  DeviceRuntime* runtime = nullptr;
  const InspectedModel* model = nullptr;
  const Placement* placement = nullptr;
  LoadedModel* loaded = nullptr;
  ModelDescription description;
  std::vector<StepStatistics> steps;
  std::unique_ptr<Executor> executor;  // declared last: destroyed first

  // Over a model the caller loaded and keeps (the CLI's `run`).
  static std::unique_ptr<Impl> borrowing(DeviceRuntime& runtime, const InspectedModel& model, const Placement& placement,
                                         LoadedModel& loaded);
  std::size_t component_index(std::string_view component) const;
  // The executor over what result holds now (after open, or after a fallback).
  void rebind();
};

}  // namespace vramguard::runtime
