#include "report/plan_report.hpp"

#include <ostream>

#include "report/table.hpp"
#include "core/text.hpp"
#include "vramguard/byte_size.hpp"

namespace vramguard {
namespace {

std::string gb_gib(std::uint64_t bytes) { return format_gb(bytes) + " / " + format_gib(bytes); }

using Align = TextTable::Align;

}  // namespace

void print_unit_table(const ModelGraph& graph, const Placement& placement, std::ostream& out) {
  TextTable table({{"COMPONENT"}, {"UNIT"}, {"GB", Align::right}, {"MODE"}, {"STORAGE"}, {"EXECUTES ON"}});
  for (const auto& component : graph.components)
    for (const auto& unit : component.units) {
      const auto* p = placement.find(component.name, unit.name);
      if (p == nullptr) continue;
      table.add({component.name, unit.name, format_gb(unit.bytes), std::string(placement_mode_name(p->mode)),
                 p->storage.str(), p->executes_on.str()});
    }
  table.print(out);
}

void print_plan(const PlanningSetup& setup, const Placement& placement, const Prediction& prediction, bool with_units,
                std::ostream& out) {
  const auto& graph = setup.model.graph;
  out << "Plan: " << placement.strategy << " for " << setup.model.source.argument << " (" << format_bytes(graph.bytes())
      << " in " << graph.unit_count() << " units) on " << setup.runtime << " devices\n";
  out << "  " << placement.explanation << "\n";
  for (const auto& note : setup.notes) out << "  note: " << note << "\n";

  out << "\nDevices (GB / GiB)\n";
  TextTable devices({{"DEVICE"},
                     {"TOTAL", Align::right},
                     {"RESERVE", Align::right},
                     {"USABLE", Align::right},
                     {"RESIDENT", Align::right},
                     {"WINDOW", Align::right},
                     {"HEADROOM", Align::right},
                     {"PREDICTED PEAK", Align::right},
                     {"FITS"}});
  for (const auto& d : prediction.devices) {
    const DeviceInfo* info = setup.budget.find(d.device);
    if (info->id.kind == DeviceKind::disk) {
      // The page cache over the checkpoint: no capacity of ours, but say what streams from it.
      if (prediction.pageable_bytes > 0)
        devices.add({"disk", "-", "-", "-", "-", "-", "-",
                     format_gb(prediction.pageable_bytes) + " streamed from the page cache", "yes"});
      continue;
    }
    devices.add({d.device.str(), gb_gib(info->total_bytes), gb_gib(info->reserve_bytes), gb_gib(d.usable_bytes),
                 gb_gib(d.resident_bytes), gb_gib(d.window_bytes), gb_gib(d.headroom_bytes), gb_gib(d.peak_bytes),
                 d.fits ? "yes" : "NO"});
  }
  devices.print(out);

  out << "\nComponents\n";
  TextTable components({{"COMPONENT"},
                        {"TOKENS", Align::right},
                        {"RESIDENT", Align::right},
                        {"STREAMED", Align::right},
                        {"CPU", Align::right},
                        {"STREAMED/PASS", Align::right},
                        {"PASS TIME", Align::right}});
  for (std::size_t c = 0; c < graph.components.size(); ++c) {
    const Component& component = graph.components[c];
    std::size_t counts[3] = {0, 0, 0};
    for (const auto& unit : component.units)
      if (const auto* p = placement.find(component.name, unit.name)) ++counts[static_cast<int>(p->mode)];
    const auto& cp = prediction.components[c];
    components.add({component.name, text::thousands(cp.tokens), std::to_string(counts[0]), std::to_string(counts[1]),
                    std::to_string(counts[2]), format_bytes(cp.streamed_bytes), format_seconds(cp.step_seconds)});
  }
  components.print(out);

  out << "\nPredicted: ready in " << format_seconds(prediction.ready_seconds)
      << ", one forward pass of every component " << format_seconds(prediction.step_seconds) << "; "
      << format_bytes(prediction.streamed_bytes_per_step) << " streamed per pass";
  if (prediction.streamed_bytes_per_step > 0) {
    const auto gpus = setup.budget.gpus();
    const DeviceInfo* gpu = gpus.empty() ? nullptr : gpus.front();
    const double bandwidth = host_to_device_bytes_per_s(gpu);
    out << " (" << format_seconds(static_cast<double>(prediction.streamed_bytes_per_step) / bandwidth)
        << " of copying at " << format_gb(static_cast<std::uint64_t>(bandwidth)) << " GB/s, "
        << static_cast<int>(default_cost_constants().copy_efficiency * 100) << " % of the link's "
        << format_gb(static_cast<std::uint64_t>(gpu ? gpu->host_to_device_bytes_per_s : bandwidth)) << " GB/s)";
  }
  out << "\n";
  if (prediction.pinned_bytes > 0)
    out << "Streamed weights held on the host: " << stream_source_name(prediction.stream_source) << ": "
        << prediction.stream_source_reason << "\n";
  if (!with_units) return;
  out << "\nUnits\n";
  print_unit_table(graph, placement, out);
}

nlohmann::json budget_json(const DeviceBudget& budget) {
  nlohmann::json devices = nlohmann::json::array();
  for (const auto& d : budget.devices) {
    nlohmann::json entry{{"name", d.name()},
                         {"kind", std::string(device_kind_name(d.id.kind))},
                         {"description", d.description},
                         {"total_bytes", d.total_bytes},
                         {"free_bytes", d.free_bytes},
                         {"reserve_bytes", d.reserve_bytes},
                         {"headroom_bytes", d.headroom_bytes},
                         {"adapter_bytes", d.adapter_bytes},
                         {"usable_bytes", d.usable_bytes}};
    entry["cap_bytes"] = d.cap_bytes ? nlohmann::json(*d.cap_bytes) : nlohmann::json();
    if (d.id == DeviceId::host()) entry["can_register_mappings"] = budget.can_register_mappings;
    if (d.id.is_gpu()) {
      entry["context_bytes"] = d.context_bytes;
      entry["context_measured"] = d.context_measured;
      entry["host_to_device_bytes_per_s"] = d.host_to_device_bytes_per_s;
      entry["compute_flops_per_s"] = d.compute_flops_per_s;
      entry["memory_bytes_per_s"] = d.memory_bytes_per_s;
      entry["simulated"] = d.simulated;
    }
    devices.push_back(entry);
  }
  return devices;
}

nlohmann::json plan_json(const PlanningSetup& setup, const Placement& placement, const Prediction& prediction) {
  nlohmann::json doc;
  doc["strategy"] = placement.strategy;
  doc["explanation"] = placement.explanation;
  doc["model"] = setup.model.source.argument;
  doc["runtime"] = setup.runtime;
  doc["notes"] = setup.notes;
  doc["prefetch_depth"] = placement.prefetch_depth;
  doc["settings"] = placement.settings;
  doc["devices"] = budget_json(setup.budget);
  for (auto& device : doc["devices"]) {
    const auto* d = prediction.find(*DeviceId::parse(device["name"].get<std::string>()));
    device["resident_bytes"] = d->resident_bytes;
    device["window_bytes"] = d->window_bytes;
    device["predicted_peak_bytes"] = d->peak_bytes;
    device["fits"] = d->fits;
  }
  doc["units"] = nlohmann::json::array();
  for (const auto& component : setup.model.graph.components) {
    for (const auto& unit : component.units) {
      const auto* p = placement.find(component.name, unit.name);
      doc["units"].push_back({{"component", component.name},
                              {"name", unit.name},
                              {"bytes", unit.bytes},
                              {"mode", std::string(placement_mode_name(p->mode))},
                              {"storage", p->storage.str()},
                              {"executes_on", p->executes_on.str()}});
    }
  }
  doc["predicted"] = prediction_json(prediction);
  return doc;
}

nlohmann::json hugging_face_device_map(const PlanningSetup& setup, const Placement& placement) {
  auto device_value = [](DeviceId id) { return id.is_gpu() ? nlohmann::json(id.index) : nlohmann::json(id.str()); };
  nlohmann::json storage = nlohmann::json::object(), execution = nlohmann::json::object();
  bool streams = false;
  for (const auto& component : setup.model.graph.components) {
    nlohmann::ordered_json stored = nlohmann::ordered_json::object(), runs = nlohmann::ordered_json::object();
    for (const auto& unit : component.units) {
      const auto* p = placement.find(component.name, unit.name);
      // A module in row slices is one entry: accelerate places whole modules. Slices stored apart
      // (some resident, some on the host) leave it where the last slice is, streamed from there.
      const std::string& module = unit.slice_of.empty() ? unit.name : unit.slice_of;
      if (!stored.contains(module) || p->storage.kind != DeviceKind::cuda) stored[module] = device_value(p->storage);
      runs[module] = device_value(p->executes_on);
      streams = streams || p->mode == PlacementMode::streamed;
    }
    storage[component.name] = stored;
    execution[component.name] = runs;
  }
  const bool single = setup.model.source.layout != "diffusers pipeline" && setup.model.graph.components.size() == 1;
  nlohmann::json doc;
  doc["device_map"] = single ? storage.begin().value() : storage;
  doc["execution_map"] = single ? execution.begin().value() : execution;
  doc["note"] =
      streams
          ? "device_map says where weights are stored, for from_pretrained(device_map=json['device_map']): "
            "accelerate keeps \"cpu\" and \"disk\" units there and copies each to the first GPU of the map when "
            "it runs, one module at a time without prefetch; when no unit is on a GPU, it runs the model on the "
            "CPU instead. execution_map says where vramguard runs each unit."
          : "every unit is resident: device_map and execution_map agree; pass json['device_map'] to from_pretrained";
  return doc;
}

}  // namespace vramguard
