#pragma once
// The plugin interface: a placement strategy is a pure function of the model, the budget, the
// workload and its options. It allocates no device memory and never touches libtorch, so any plan
// can be computed and checked on any machine before it costs memory.
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>

#include "vramguard/device_budget.hpp"
#include "vramguard/model_graph.hpp"
#include "vramguard/placement.hpp"
#include "vramguard/strategy_options.hpp"

namespace vramguard {

// What one component does in a job, where the job knows it: an edit runs its transformer 2 x steps
// times over the image's and the prompt's tokens, and its text encoder once per prompt. A byte kept
// resident saves a copy per pass, so strategies weigh components by their passes.
struct ComponentWork {
  std::uint64_t tokens = 0;  // sequence length of one pass (0: the workload's)
  std::uint64_t passes = 1;  // forward passes in one job
};

struct Workload {
  std::uint64_t tokens = 0;                         // sequence length per forward step (0: each component's default)
  std::uint64_t batch = 1;                          // sequences per step
  std::map<std::string, ComponentWork> components;  // by component name; absent: the above, one pass
  bool fp8_matmuls = false;  // Linears with e4m3 weights multiply in fp8 on GPUs that can (--fp8-compute)

  // The component's sequence length: its own, else the workload's tokens, else `default_tokens`.
  std::uint64_t sequence_tokens(const std::string& component, std::uint64_t default_tokens) const;
  std::uint64_t passes(const std::string& component) const;
};

struct PlanRequest {
  const ModelGraph& model;
  const DeviceBudget& budget;
  const Workload& workload;
  const StrategyOptions& options;
};

class PlacementStrategy {
 public:
  virtual ~PlacementStrategy() = default;
  // Returns a placement for every unit of request.model, or throws NoFitError (and
  // InvalidStrategyOption for an option it cannot use). Whatever it throws stays inside the plugin:
  // the registration macro's guard turns it into a PlanOutcome for the host.
  virtual Placement plan(const PlanRequest& request) const = 0;
};

// Raised when no placement of this strategy fits the budget. Carries the least memory per device
// the strategy would need, so the user learns what to free or which cap to raise.
class NoFitError : public std::runtime_error {
 public:
  NoFitError(std::string strategy, std::string reason, std::map<DeviceId, std::uint64_t> minimum_bytes);
  const std::string& strategy() const noexcept { return strategy_; }
  const std::string& reason() const noexcept { return reason_; }
  // device → bytes of usable memory the strategy would need there
  const std::map<DeviceId, std::uint64_t>& minimum_bytes() const noexcept { return minimum_bytes_; }

 private:
  std::string strategy_;
  std::string reason_;
  std::map<DeviceId, std::uint64_t> minimum_bytes_;
};

}  // namespace vramguard
