#include "executor.hpp"

#include <algorithm>

#include "core/errors.hpp"
#include "devices/wall_clock.hpp"
#include "fp8_weights.hpp"
#include "logging/log.hpp"
#include "torch_tensors.hpp"

namespace vramguard::runtime {
namespace {

constexpr int kHostClock = -1;

}  // namespace

Executor::Executor(DeviceRuntime& runtime, const InspectedModel& model, const Placement& placement,
                   const LoadedModel& loaded)
    : runtime_(runtime), model_(model), loaded_(loaded), on_host_(runtime.blocks_on_host()) {
  std::size_t flat = 0;
  for (std::size_t c = 0; c < model.graph.components.size(); ++c) {
    first_of_component_.push_back(flat);
    flat += model.graph.components[c].units.size();
  }
  if (loaded.units().size() != flat) throw JobError("the executor was given a model loaded for another plan");
  adapters_.resize(model.components.size());
  for (std::size_t c = 0; c < model.components.size(); ++c)
    for (const auto& adapter : model.components[c].adapters) adapters_[c].emplace(adapter.weight, &adapter);

  std::map<DeviceId, int> window_of;
  for (const auto& window : loaded.windows()) {
    Window w;
    w.gpu = window.gpu.index;
    w.slots = window.slots;
    w.holds.assign(window.slots.size(), std::nullopt);
    w.in_use.assign(window.slots.size(), false);
    w.ahead.assign(window.slots.size(), false);
    w.depth = placement.prefetch_depth;
    w.lane = runtime.open_lane(w.gpu, static_cast<int>(window.slots.size()));
    window_of[window.gpu] = static_cast<int>(windows_.size());
    windows_.push_back(std::move(w));
  }

  units_.resize(loaded.units().size());
  for (std::size_t k = 0; k < loaded.units().size(); ++k) {
    const LoadedUnit& lu = loaded.units()[k];
    Unit& unit = units_[k];
    unit.loaded = &lu;
    unit.device = compute_device(lu.placement.executes_on, on_host_);
    const int clock_key = lu.placement.executes_on.is_gpu() ? lu.placement.executes_on.index : kHostClock;
    if (!clocks_.count(clock_key))
      clocks_[clock_key] = clock_key == kHostClock ? std::make_unique<WallClock>() : runtime.open_clock(clock_key);
    unit.clock = clock_key;
    if (lu.placement.mode == PlacementMode::streamed) {
      const auto it = window_of.find(lu.placement.executes_on);
      if (it == window_of.end())
        throw JobError("unit " + lu.placement.unit + " streams to " + lu.placement.executes_on.str() +
                       ", which has no window");
      unit.window = it->second;
      Window& w = windows_[static_cast<std::size_t>(it->second)];
      w.position[k] = w.order.size();
      w.order.push_back(k);
      continue;
    }
    void* base = lu.block ? lu.block->data() : nullptr;
    unit.resident = views_in(lu, base, unit.device);
  }
}

Executor::~Executor() {
  try {
    synchronize();
  } catch (const std::exception&) {
    // A copy's failure was reported by the step that waited for it; nothing more to do at teardown.
  }
}

std::size_t Executor::flat_index(std::size_t component, std::size_t unit) const {
  const std::size_t flat = first_of_component_.at(component) + unit;
  if (flat >= units_.size()) throw std::out_of_range("no such unit");
  return flat;
}

UnitTensors Executor::views_in(const LoadedUnit& unit, void* base, c10::Device device) const {
  const Component& component = model_.graph.components[unit.component];
  UnitTensors tensors;
  const vramguard::Unit& graph_unit = component.units[unit.unit];
  tensors.name = graph_unit.name;
  tensors.prefix = graph_unit.slice_of.empty() ? graph_unit.name : graph_unit.slice_of;
  for (const auto& tensor : graph_unit.tensors) tensors.first_row = std::max(tensors.first_row, tensor.first_row);
  tensors.device = device;
  if (!adapters_.at(unit.component).empty()) tensors.adapters = &adapters_[unit.component];
  for (std::size_t t = 0; t < unit.tensors.size(); ++t) {
    const LoadedTensor& tensor = unit.tensors[t];
    const std::string label = component.name + "/" + tensor.name;
    void* data = nullptr;
    if (!tensor.tied_to.empty() && unit.placement.mode != PlacementMode::streamed) {
      // A tied tensor not streamed is its owner's, in the owner's block (same storage by the plan rules).
      const auto [owner_unit, owner_tensor] = unit.tie_owners.at(t);
      const LoadedUnit& owner = loaded_.units().at(owner_unit);
      if (owner.block != nullptr && owner.block->data() != nullptr)
        data = static_cast<unsigned char*>(owner.block->data()) + owner.tensors.at(owner_tensor).offset;
    } else if (base != nullptr) {
      data = static_cast<unsigned char*>(base) + tensor.offset;
    }
    if (data == nullptr && tensor.bytes > 0)
      throw JobError("tensor " + label + " has no bytes to compute with",
                     "on simulated devices, a run needs a runtime that keeps data (vramguard run does)");
    static char empty = 0;
    if (is_fp8(tensor.dtype)) tensors.fp8.emplace(tensor.name, tensor.dtype);
    tensors.by_name.emplace(tensor.name,
                            view_of(data ? data : &empty, tensor.shape, scalar_type_of(tensor.dtype, label), device));
  }
  return tensors;
}

std::optional<std::size_t> Executor::slot_of(const Window& window, std::size_t unit) const {
  for (std::size_t s = 0; s < window.holds.size(); ++s)
    if (window.holds[s] == unit) return s;
  return std::nullopt;
}

// A slot no unit is using: one never filled, else one released. With `evict_prefetched`, a slot
// filled ahead for a unit that was not asked for may be taken too (a prefetch is a guess: an adapter
// may skip units, as a text-only run skips a vision tower). Copies into one slot are ordered on the copy
// stream, so a refill never races the fill it replaces.
std::optional<std::size_t> Executor::free_slot(const Window& window, bool evict_prefetched) const {
  std::optional<std::size_t> released, prefetched;
  for (std::size_t s = 0; s < window.holds.size(); ++s) {
    if (window.in_use[s]) continue;
    if (!window.holds[s]) return s;
    if (!window.ahead[s]) released = released ? released : s;
    else prefetched = prefetched ? prefetched : s;
  }
  if (released) return released;
  return evict_prefetched ? prefetched : std::nullopt;
}

void Executor::fill(Window& window, std::size_t slot, std::size_t unit) {
  const LoadedUnit& lu = *units_[unit].loaded;
  if (window.holds[slot]) window.views.erase(*window.holds[slot]);
  std::vector<StreamPiece> pieces = lu.stream_pieces();
  // The bytes that cross the link: the tensors, not the slot's rounding.
  std::uint64_t copied = 0;
  for (const auto& piece : pieces) copied += piece.host != nullptr ? piece.bytes : piece.file.placed_bytes();
  window.lane->fill(static_cast<int>(slot), *window.slots[slot], std::move(pieces));
  window.holds[slot] = unit;
  window.ahead[slot] = true;
  window.views[unit] = views_in(lu, window.slots[slot]->data(), units_[unit].device);
  streamed_bytes_ += copied;
  step_streamed_bytes_ += copied;
}

// Keeps up to `depth` units filled ahead of the one in use, in forward order (wrapping round to the
// next step's first units), in whatever slots are free.
void Executor::prefetch(Window& window) {
  if (window.order.empty()) return;
  int ahead = static_cast<int>(std::count(window.ahead.begin(), window.ahead.end(), true));
  for (std::size_t tries = 0; ahead < window.depth && tries < window.order.size(); ++tries) {
    const std::size_t unit = window.order[window.next % window.order.size()];
    if (const auto there = slot_of(window, unit)) {  // already there: keep it for its use, look further
      if (!window.in_use[*there] && !window.ahead[*there]) {
        window.ahead[*there] = true;
        ++ahead;
      }
      window.next = (window.next + 1) % window.order.size();
      continue;
    }
    const auto slot = free_slot(window, false);
    if (!slot) return;
    fill(window, *slot, unit);
    window.next = (window.next + 1) % window.order.size();
    ++ahead;
  }
}

const UnitTensors& Executor::acquire(std::size_t flat) {
  Unit& unit = units_.at(flat);
  ComputeClock& clock = *clocks_.at(unit.clock);
  if (unit.window < 0) {
    if (in_step_) unit.started_mark = clock.mark();
    return unit.resident;
  }
  Window& window = windows_[static_cast<std::size_t>(unit.window)];
  auto slot = slot_of(window, flat);
  if (!slot) {
    // Not prefetched (the model left the forward order, or the first step): fill it now.
    if (in_step_) ++step_unprefetched_units_;
    slot = free_slot(window, true);
    if (slot && window.ahead[*slot]) window.ahead[*slot] = false;
    if (!slot)
      throw JobError(
          "unit " + unit.loaded->placement.unit + " needs a window slot on cuda:" + std::to_string(window.gpu) +
              ", and all " + std::to_string(window.slots.size()) + " hold units still in use",
          "a model may hold at most prefetch_depth + 1 streamed units at once; release each unit before the next");
    fill(window, *slot, flat);
  }
  auto position = window.position.find(flat);
  if (position == window.position.end()) {  // a unit the last step did not use
    position = window.position.emplace(flat, window.order.size()).first;
    window.order.push_back(flat);
  }
  window.next = (position->second + 1) % window.order.size();
  if (std::find(window.observed.begin(), window.observed.end(), flat) == window.observed.end())
    window.observed.push_back(flat);
  window.lane->acquire(static_cast<int>(*slot));
  window.ahead[*slot] = false;
  window.in_use[*slot] = true;
  prefetch(window);
  if (in_step_) unit.started_mark = clock.mark();
  return window.views.at(flat);
}

void Executor::release(std::size_t flat) {
  Unit& unit = units_.at(flat);
  ComputeClock& clock = *clocks_.at(unit.clock);
  if (unit.started_mark >= 0) {
    timed_.push_back({unit.clock, unit.started_mark, clock.mark(), unit.window >= 0});
    unit.started_mark = -1;
  }
  if (unit.window < 0) return;
  Window& window = windows_[static_cast<std::size_t>(unit.window)];
  const auto slot = slot_of(window, flat);
  if (!slot || !window.in_use[*slot]) return;
  window.lane->release(static_cast<int>(*slot));
  window.in_use[*slot] = false;
  prefetch(window);  // the slot is free again: the next copy can start as soon as this compute is done
}

void Executor::begin_step() {
  for (auto& [key, clock] : clocks_) clock->clear();
  for (auto& window : windows_) {
    window.waited_before_step = window.lane->wait_seconds();
    window.observed.clear();
  }
  timed_.clear();
  step_streamed_bytes_ = 0;
  step_unprefetched_units_ = 0;
  in_step_ = true;
}

Executor::StepFigures Executor::end_step() {
  in_step_ = false;
  for (const auto& [key, clock] : clocks_)
    if (key >= 0) runtime_.finish_compute(key);
  StepFigures figures;
  // Resident and streamed units' compute apart (debug): a streamed unit's kernels should take as long as a
  // resident one's, the copy beside them running on its own engine.
  const bool debug = log::enabled(log::Level::debug);
  std::vector<double> spans[2];
  for (const auto& use : timed_) {
    const double seconds = clocks_.at(use.clock)->seconds_between(use.from, use.to);
    figures.compute_seconds += seconds;
    if (debug) spans[use.streamed ? 1 : 0].push_back(seconds);
  }
  if (debug)
    for (int streamed = 0; streamed < 2; ++streamed) {
      auto& s = spans[streamed];
      if (s.empty()) continue;
      std::sort(s.begin(), s.end());
      double total = 0;
      for (double x : s) total += x;
      log::debug("step compute, ", streamed ? "streamed" : "resident", " units: ", s.size(), " uses, ", total,
                 " s, median ", s[s.size() / 2] * 1e3, " ms, largest ", s.back() * 1e3, " ms");
    }
  for (const auto& window : windows_)
    figures.copy_wait_seconds += window.lane->wait_seconds() - window.waited_before_step;
  figures.streamed_bytes = step_streamed_bytes_;
  figures.unprefetched_units = step_unprefetched_units_;
  // From now on prefetch in the order the units were used, which may skip some or differ from the
  // graph's (the next step then starts with the first unit used, prefetched at the end of this one).
  for (auto& window : windows_) {
    if (window.observed.empty()) continue;
    window.order = window.observed;
    window.position.clear();
    for (std::size_t i = 0; i < window.order.size(); ++i) window.position[window.order[i]] = i;
    // What was filled ahead was guessed from the old order: a unit this step never asked for (a VAE's
    // decoder while it encodes) would otherwise hold its slot as a prefetch for good, and every later
    // unit would be copied on demand. Slots keep their contents: the next step's first units, if they
    // are still there, are kept for it; the rest of the slots are free.
    std::fill(window.ahead.begin(), window.ahead.end(), false);
    window.next = 0;
    prefetch(window);
  }
  return figures;
}

void Executor::synchronize() {
  for (auto& window : windows_) window.lane->synchronize();
}

}  // namespace vramguard::runtime
