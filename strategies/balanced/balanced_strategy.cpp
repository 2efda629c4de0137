#include "balanced/balanced_strategy.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include <vramguard/byte_size.hpp>
#include <vramguard/plan_helpers.hpp>
#include <vramguard/plan_rules.hpp>

namespace vramguard::strategies {
namespace {

constexpr const char* kName = "balanced";

// Mean size of the leaf modules (modules holding tensors and no sub-modules), as accelerate's
// get_balanced_memory computes it from the module tree; here the tree comes from tensor names.
std::uint64_t mean_leaf_module_bytes(const PlanContext& context) {
  std::map<std::string, std::uint64_t> module_bytes;
  std::set<std::string> parents;
  for (const auto& ref : context.units()) {
    for (const auto& tensor : ref.unit->tensors) {
      if (!tensor.tied_to.empty()) continue;  // a tied parameter is counted once, at its owner
      const std::string full = ref.component->name + "/" + tensor.name;
      const auto dot = full.rfind('.');
      const std::string module = dot == std::string::npos ? full : full.substr(0, dot);
      module_bytes[module] += tensor.bytes;
      for (auto at = module.rfind('.'); at != std::string::npos; at = module.rfind('.', at - 1)) {
        parents.insert(module.substr(0, at));
        if (at == 0) break;
      }
    }
  }
  std::uint64_t sum = 0, count = 0;
  for (const auto& [module, bytes] : module_bytes) {
    if (parents.count(module)) continue;
    sum += bytes;
    ++count;
  }
  return count == 0 ? 0 : static_cast<std::uint64_t>(static_cast<double>(sum) / static_cast<double>(count));
}

// The size of the first block of each indexed stack ("no-split module"); the largest of them.
std::uint64_t first_block_bytes(const PlanContext& context) {
  std::set<std::string> stacks;
  std::uint64_t largest = 0;
  for (const auto& ref : context.units()) {
    if (ref.unit->kind != UnitKind::block) continue;
    const auto dot = ref.unit->name.rfind('.');
    const std::string stack = ref.component->name + "/" + ref.unit->name.substr(0, dot == std::string::npos ? 0 : dot);
    if (stacks.insert(stack).second) largest = std::max(largest, allocated_bytes(*ref.unit));
  }
  return largest;
}

// get_balanced_memory with user-given budgets: caps every GPU but the last at an even share plus a buffer.
void balance(std::vector<std::int64_t>& gpu_max, const PlanContext& context, std::uint64_t total, bool low_zero) {
  std::size_t usable_gpus = 0;
  for (auto m : gpu_max) usable_gpus += m > 0 ? 1 : 0;
  if (usable_gpus == 0) return;
  if (usable_gpus == 1) low_zero = false;
  std::int64_t per_gpu = static_cast<std::int64_t>(total / (low_zero ? usable_gpus - 1 : usable_gpus));
  const std::uint64_t buffer = std::max(first_block_bytes(context), mean_leaf_module_bytes(context));
  per_gpu += static_cast<std::int64_t>(1.25 * static_cast<double>(buffer));
  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < gpu_max.size(); ++i)
    if (gpu_max[i] > 0) order.push_back(i);
  for (std::size_t k = 0; k + 1 < order.size(); ++k) {
    const std::size_t i = order[k];
    gpu_max[i] = std::min(low_zero && i == 0 ? gpu_max[0] : per_gpu, gpu_max[i]);
  }
  if (low_zero) {
    std::int64_t others = 0;
    for (std::size_t i = 1; i < usable_gpus && i < gpu_max.size(); ++i) others += gpu_max[i];
    const std::int64_t min_zero = std::max<std::int64_t>(0, static_cast<std::int64_t>(total) - others);
    gpu_max[0] = std::min(min_zero, gpu_max[0]);
  }
}

// The module hierarchy the unit names imply ("model.layers.3" sits in "model.layers", in "model"), with
// components as top-level modules of a pipeline. Units are leaves; a tie group moves as one unit.
class ModuleTree {
 public:
  explicit ModuleTree(const PlanContext& context) : context_(context) {
    nodes_.push_back({});  // the root
    std::vector<std::size_t> item_of_unit(context.units().size());
    for (std::size_t i = 0; i < context.items().size(); ++i)
      for (std::size_t u : context.items()[i].units) item_of_unit[u] = i;
    const bool pipeline = context.request().model.components.size() > 1;
    for (std::size_t u = 0; u < context.units().size(); ++u) {
      const auto& ref = context.units()[u];
      std::size_t node = 0;
      std::string path;
      std::vector<std::string> parts;
      if (pipeline) parts.push_back(ref.component->name);
      std::size_t start = 0;
      const std::string& name = ref.unit->name;
      while (true) {
        const auto dot = name.find('.', start);
        parts.push_back(name.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
        if (dot == std::string::npos) break;
        start = dot + 1;
      }
      for (const auto& part : parts) {
        path += (path.empty() ? "" : ".") + part;
        node = child(node, path);
      }
      nodes_[node].items.push_back(item_of_unit[u]);
      nodes_[node].unit = true;
    }
    for (std::size_t n = nodes_.size(); n-- > 0;) summarize(n);
  }

  std::vector<std::size_t> root_children() const { return nodes_[0].children; }
  std::vector<std::size_t> children(std::size_t node) const { return nodes_[node].children; }
  bool is_unit(std::size_t node) const { return nodes_[node].unit && nodes_[node].children.empty(); }
  const std::vector<std::size_t>& items_under(std::size_t node) const { return nodes_[node].all_items; }
  std::uint64_t largest_unit(const std::vector<std::size_t>& pending) const {
    std::uint64_t largest = 0;
    for (std::size_t n : pending) largest = std::max(largest, nodes_[n].largest);
    return largest;
  }

 private:
  struct Node {
    std::string path;
    std::vector<std::size_t> children;
    std::vector<std::size_t> items;      // items whose unit is this node
    std::vector<std::size_t> all_items;  // items at or below this node, in order
    std::uint64_t largest = 0;
    bool unit = false;
  };

  std::size_t child(std::size_t parent, const std::string& path) {
    for (std::size_t c : nodes_[parent].children)
      if (nodes_[c].path == path) return c;
    Node node;
    node.path = path;
    nodes_.push_back(std::move(node));
    nodes_[parent].children.push_back(nodes_.size() - 1);
    return nodes_.size() - 1;
  }

  // Children are created after their parents, so a reverse sweep sees every child first.
  void summarize(std::size_t n) {
    Node& node = nodes_[n];
    std::set<std::size_t> seen;
    for (std::size_t item : node.items)
      if (seen.insert(item).second) node.all_items.push_back(item);
    for (std::size_t c : node.children)
      for (std::size_t item : nodes_[c].all_items)
        if (seen.insert(item).second) node.all_items.push_back(item);
    for (std::size_t item : node.all_items)
      node.largest = std::max(node.largest, context_.items()[item].largest_slot_bytes);
  }

  const PlanContext& context_;
  std::vector<Node> nodes_;
};

// accelerate's infer_auto_device_map walk over the module tree: top-level modules first; a module that
// does not fit is split into its children; a unit cannot be split, so it moves on to the next device.
// The main GPU and the CPU keep room for `slots` of the largest remaining unit (accelerate keeps one: the
// slot offloaded units run in). Places every unit in `context`; returns whether any was offloaded.
bool walk(PlanContext& context, const std::vector<std::int64_t>& gpu_max, std::uint64_t slots) {
  const auto gpus = context.gpus();
  std::uint64_t total = 0;
  for (const auto& item : context.items()) total += item.allocated_bytes;
  struct Target {
    DeviceId device;
    std::int64_t max;  // INT64_MAX: unlimited (disk)
    bool main;         // keeps room for the largest remaining unit
  };
  std::vector<Target> targets;
  for (std::size_t i = 0; i < gpus.size(); ++i) targets.push_back({gpus[i]->id, gpu_max[i], i == 0});
  targets.push_back({DeviceId::host(),
                     static_cast<std::int64_t>(std::min<std::uint64_t>(context.host_streaming_capacity(), INT64_MAX)),
                     true});
  if (context.has_disk() && !gpus.empty())
    targets.push_back({DeviceId::page_cache(), INT64_MAX, false});  // CPU compute needs RAM

  const ModuleTree tree(context);
  std::vector<std::size_t> pending = tree.root_children();
  std::vector<std::int64_t> used(targets.size(), 0);  // as accelerate counts it (reservations included)
  std::vector<std::uint64_t> resident(targets.size(), 0);
  std::size_t device = 0;
  std::uint64_t largest_offloaded = 0;
  while (!pending.empty()) {
    const std::size_t node = pending.front();
    pending.erase(pending.begin());
    // A tie group placed with an earlier module is not counted again.
    std::int64_t size = 0;
    bool anything_left = false;
    for (const std::size_t item : tree.items_under(node)) {
      if (context.placed(context.items()[item])) continue;
      size += static_cast<std::int64_t>(context.items()[item].allocated_bytes);
      anything_left = true;
    }
    if (!anything_left) continue;
    const std::int64_t largest_remaining = static_cast<std::int64_t>(tree.largest_unit(pending));
    const Target& t = targets[device];
    const std::int64_t reserved =
        t.main ? largest_remaining * static_cast<std::int64_t>(t.device.is_gpu() ? slots : 1) : 0;
    if (t.max == INT64_MAX || used[device] + size <= t.max - reserved) {
      used[device] += size;
      resident[device] += static_cast<std::uint64_t>(size);
      for (const std::size_t item : tree.items_under(node)) {
        const PlanItem& plan_item = context.items()[item];
        if (context.placed(plan_item)) continue;
        const DeviceId where = t.device;
        if (!where.is_gpu()) {
          largest_offloaded = std::max(largest_offloaded, plan_item.largest_slot_bytes);
          if (gpus.empty()) context.place(plan_item, DeviceId::host(), PlacementMode::cpu, DeviceId::host());
          else context.place(plan_item, where, PlacementMode::streamed, gpus.front()->id);
        } else {
          context.place(plan_item, where, PlacementMode::resident, where);
        }
      }
      continue;
    }
    if (!tree.is_unit(node)) {
      const auto children = tree.children(node);
      pending.insert(pending.begin(), children.begin(), children.end());
      continue;
    }
    used[device] += reserved;
    if (++device == targets.size())
      throw NoFitError(kName, "the units do not fit on the GPUs, in CPU memory or on disk",
                       {{DeviceId::host(), total}});
    pending.insert(pending.begin(), node);
  }

  // The main GPU must hold its residents plus the slots for the largest offloaded unit.
  if (largest_offloaded > 0 && !gpus.empty() && resident[0] + slots * largest_offloaded > gpus.front()->usable_bytes) {
    throw NoFitError(kName,
                     "the largest offloaded unit (" + format_bytes(largest_offloaded) + ") does not fit on " +
                         gpus.front()->name() + " next to its resident units",
                     {{gpus.front()->id, resident[0] + slots * largest_offloaded}});
  }
  return largest_offloaded > 0;
}

}  // namespace

Placement BalancedStrategy::plan(const PlanRequest& request) const {
  require_known_options(request.options, {"low_zero", "fill", "prefetch"}, kName);
  const bool low_zero = option_bool(request.options, "low_zero", false);
  const bool sequential =
      option_choice(request.options, "fill", "balanced", {"balanced", "sequential"}) == "sequential";
  const int prefetch = static_cast<int>(option_integer(request.options, "prefetch", 1, 0, kMaxPrefetchDepth));

  PlanContext accelerate(request);
  const auto gpus = accelerate.gpus();
  if (gpus.empty() && !request.budget.allow_cpu_compute)
    throw NoFitError(kName, "there is no GPU in the budget (pass --allow-cpu-compute to run on the CPU)", {});

  std::uint64_t total = 0;
  for (const auto& item : accelerate.items()) total += item.allocated_bytes;
  // Devices in accelerate's order: GPUs by index, then cpu, then disk.
  std::vector<std::int64_t> gpu_max;
  for (const auto* gpu : gpus) gpu_max.push_back(static_cast<std::int64_t>(gpu->usable_bytes));
  if (!sequential) balance(gpu_max, accelerate, total, low_zero);

  // accelerate's map; where it offloads units and prefetch is asked for, the same walk again keeping
  // room for prefetch + 1 slots on the main GPU instead of accelerate's one, so that the next offloaded
  // unit is copied while the current one computes (accelerate's hooks copy, then compute). Where that
  // walk does not fit, accelerate's own map, one unit at a time.
  const bool offloads = walk(accelerate, gpu_max, 1);
  std::optional<PlanContext> with_window;
  if (offloads && prefetch > 0 && !gpus.empty()) {
    with_window.emplace(request);
    try {
      walk(*with_window, gpu_max, static_cast<std::uint64_t>(prefetch) + 1);
    } catch (const NoFitError&) {
      with_window.reset();  // no room for a window beside accelerate's map: its map as it is
    }
  }
  const int depth = with_window ? prefetch : 0;

  std::string explanation = sequential ? "accelerate's sequential fill: GPUs in order" : "accelerate's balanced map";
  if (low_zero) explanation += " with cuda:0 kept light (balanced_low_0)";
  explanation += offloads ? "; what the GPUs cannot hold is offloaded to CPU memory or disk and run on the main GPU"
                          : "; every unit resident";
  if (depth > 0)
    explanation += ", streamed with prefetch (" + gpus.front()->name() + " keeps room for " +
                   std::to_string(depth + 1) + " of the largest offloaded units rather than accelerate's one)";
  else if (offloads && prefetch > 0) explanation += ", one at a time (no room for a prefetch window beside the map)";
  return (with_window ? *with_window : accelerate)
      .finish(kName, depth, explanation,
              {{"fill", sequential ? "sequential" : "balanced"},
               {"low_zero", low_zero ? "true" : "false"},
               {"prefetch", std::to_string(depth)}});
}

}  // namespace vramguard::strategies
