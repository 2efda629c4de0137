#pragma once
// The executor: runs a loaded model's units under its placement. Resident units are views of their
// blocks. Streamed units pass through each executing GPU's window: prefetch_depth + 1 slots allocated
// once at load, filled on a copy stream ahead of the compute stream and ordered against it with events
// (StreamLane), so the copy of the next units overlaps the compute of this one, and no step allocates.
#include <cstdint>
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "devices/device_runtime.hpp"
#include "load/loaded_model.hpp"
#include "model/model_inspector.hpp"

namespace vramguard::runtime {

// One unit's tensors on its executing device, by full name.
struct UnitTensors {
  std::string prefix;          // the module's name: tensors are prefix + "." + relative name
  std::string name;            // the unit's: the module's, or a row slice of it ("lm_head[0:37984]")
  std::int64_t first_row = 0;  // of a row slice: its first row in the whole tensor
  c10::Device device{c10::kCPU};
  std::map<std::string, at::Tensor, std::less<>> by_name;
  // Its tensors stored in fp8 (viewed as fp8_storage_type), by full name: a Linear dequantizes them at use.
  std::map<std::string, DType, std::less<>> fp8;
  // The LoRA adapters of the unit's Linears, by the adapted weight's full name (empty without --lora).
  const std::multimap<std::string, const LoraAdapter*, std::less<>>* adapters = nullptr;
};

class Executor {
 public:
  Executor(DeviceRuntime& runtime, const InspectedModel& model, const Placement& placement, const LoadedModel& loaded);
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  std::size_t unit_count() const { return units_.size(); }
  std::size_t flat_index(std::size_t component, std::size_t unit) const;
  c10::Device device_of(std::size_t flat) const { return units_.at(flat).device; }

  // The unit's tensors on its device, valid until release(): streamed ones waited for (the compute
  // stream, not this thread, waits) and the next ones prefetched.
  const UnitTensors& acquire(std::size_t flat);
  void release(std::size_t flat);

  // Bracket one step: compute time is summed between acquire and release on each compute stream.
  void begin_step();
  struct StepFigures {
    double compute_seconds = 0;
    double copy_wait_seconds = 0;
    std::uint64_t streamed_bytes = 0;
    // Streamed units asked for that no prefetch had filled: each one's copy runs alone, its compute
    // waiting for it. After a first step, a model run in its units' order has none.
    std::uint64_t unprefetched_units = 0;
  };
  StepFigures end_step();                    // waits for the step's work to finish
  void abandon_step() { in_step_ = false; }  // a step that threw: nothing to measure
  // Waits for every copy in flight (before the model's blocks are released).
  void synchronize();

 private:
  struct Unit {
    const LoadedUnit* loaded = nullptr;
    c10::Device device{c10::kCPU};
    int window = -1;        // streamed: its executing GPU's window
    UnitTensors resident;   // not streamed: views made once
    int clock = -1;         // the compute clock of its device
    int started_mark = -1;  // the mark taken at acquire
  };
  struct Window {
    int gpu = 0;
    std::unique_ptr<StreamLane> lane;
    std::vector<MemoryBlock*> slots;
    std::vector<std::optional<std::size_t>> holds;  // slot → unit whose bytes it holds
    std::vector<bool> in_use;                       // acquired and not yet released
    std::vector<bool> ahead;                        // filled, not yet acquired
    std::vector<std::size_t> order;                 // units streamed here: forward order, then as last used
    std::vector<std::size_t> observed;              // acquired this step, in order
    std::map<std::size_t, std::size_t> position;    // unit → its place in order
    std::size_t next = 0;                           // the next position to prefetch
    int depth = 0;
    double waited_before_step = 0;             // the lane's wait_seconds() when the step began
    UnitTensors current;                       // views of the slot acquired last
    std::map<std::size_t, UnitTensors> views;  // unit → views into its slot, while it holds one
  };

  UnitTensors views_in(const LoadedUnit& unit, void* base, c10::Device device) const;
  std::optional<std::size_t> slot_of(const Window& window, std::size_t unit) const;
  std::optional<std::size_t> free_slot(const Window& window, bool evict_prefetched) const;
  void fill(Window& window, std::size_t slot, std::size_t unit);
  void prefetch(Window& window);

  DeviceRuntime& runtime_;
  const InspectedModel& model_;
  const LoadedModel& loaded_;
  bool on_host_;
  std::vector<Unit> units_;
  std::vector<std::size_t> first_of_component_;
  // Per component: its LoRA adapters by the adapted weight's full name.
  std::vector<std::multimap<std::string, const LoraAdapter*, std::less<>>> adapters_;
  std::vector<Window> windows_;
  std::map<int, std::unique_ptr<ComputeClock>> clocks_;  // per executing GPU (or -1: the CPU)
  struct TimedUse {
    int clock;
    int from, to;  // marks
    bool streamed;
  };
  std::vector<TimedUse> timed_;  // this step's unit uses
  std::uint64_t streamed_bytes_ = 0;
  bool in_step_ = false;  // compute is timed between begin_step and end_step only
  std::uint64_t step_unprefetched_units_ = 0;
  std::uint64_t step_streamed_bytes_ = 0;
};

}  // namespace vramguard::runtime
