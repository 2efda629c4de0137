#pragma once
// Pieces every strategy needs: units in forward order, tie groups as single items, host storage for
// streamed weights, and the assembly of a Placement in graph order.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "vramguard/cost_model.hpp"
#include "vramguard/strategy.hpp"

namespace vramguard {

struct UnitRef {
  const Component* component = nullptr;
  const Unit* unit = nullptr;
};

// What a strategy places as one piece: a unit, or all units of a tie group (which must share storage).
struct PlanItem {
  std::vector<std::size_t> units;        // flat unit indices, in graph order
  std::uint64_t bytes = 0;               // placed bytes
  std::uint64_t allocated_bytes = 0;     // allocator-rounded bytes on a device (the plan rules' figure)
  std::uint64_t largest_slot_bytes = 0;  // the largest member's window slot (window_slot_bytes)
};

class PlanContext {
 public:
  explicit PlanContext(const PlanRequest& request);

  const PlanRequest& request() const { return request_; }
  const std::vector<UnitRef>& units() const { return units_; }
  const std::vector<PlanItem>& items() const { return items_; }  // in order of their first unit
  std::vector<const DeviceInfo*> gpus() const { return request_.budget.gpus(); }
  // Seconds `gpu` computes one forward pass through the item's units under the request's workload, as
  // the cost model's prediction counts them (unit_gpu_seconds: fp8 matmuls at the GPU's fp8 rate where
  // the workload has them).
  double pass_gpu_seconds(const PlanItem& item, const DeviceInfo& gpu) const;
  // Forward passes the job makes through the item's component (Workload::components; 1 by default).
  std::uint64_t passes(const PlanItem& item) const;

  void place(const PlanItem& item, DeviceId storage, PlacementMode mode, DeviceId executes_on);
  bool placed(const PlanItem& item) const;
  // Every unit placed, in graph order. Throws std::logic_error if a unit was left out.
  Placement finish(const std::string& strategy, int prefetch_depth, std::string explanation,
                   std::map<std::string, std::string> settings = {}) const;

  // Bytes of host memory available for streamed weights: the pinned cap and the CPU's usable bytes.
  std::uint64_t host_streaming_capacity() const;
  bool has_disk() const;

 private:
  const PlanRequest& request_;
  std::vector<UnitRef> units_;
  std::vector<PlanItem> items_;
  std::vector<UnitPlacement> decisions_;
  std::vector<bool> decided_;
};

// Hands out host storage for streamed items: pinned CPU memory while it lasts, then the page cache
// ("disk": the checkpoint file itself, mapped). Returns nullopt when neither can hold the item.
class HostStorage {
 public:
  explicit HostStorage(const PlanContext& context);
  std::optional<DeviceId> take(std::uint64_t bytes);
  std::uint64_t cpu_bytes() const { return cpu_used_; }

 private:
  std::uint64_t cpu_left_;
  std::uint64_t cpu_used_ = 0;
  bool disk_;
};

// Places item i resident on `gpu` where resident[i] is set, and streams every other item from host
// storage into a window on `gpu`. Returns the bytes streamed from pinned CPU memory (the rest come from
// the page cache), or nullopt when host memory cannot hold them.
std::optional<std::uint64_t> place_on_gpu_streaming_the_rest(PlanContext& context, const std::vector<bool>& resident,
                                                             const DeviceInfo& gpu);

}  // namespace vramguard
