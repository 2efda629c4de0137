#include "cli/plan_report.hpp"

#include <cstdio>
#include <iomanip>
#include <ostream>

#include "vramguard/byte_size.hpp"

namespace vramguard {
namespace {

std::string gb_gib(std::uint64_t bytes) { return format_gb(bytes) + " / " + format_gib(bytes); }

}  // namespace

std::string seconds_text(double seconds) {
  char buffer[32];
  if (seconds < 1) std::snprintf(buffer, sizeof buffer, "%.1f ms", seconds * 1e3);
  else std::snprintf(buffer, sizeof buffer, "%.2f s", seconds);
  return buffer;
}

void print_plan(const PlanningSetup& setup, const Placement& placement, const Prediction& prediction, bool with_units,
                std::ostream& out) {
  const auto& graph = setup.model.graph;
  out << "Plan: " << placement.strategy << " for " << setup.model.source.argument << " (" << format_bytes(graph.bytes())
      << " in " << graph.unit_count() << " units) on " << setup.runtime << " devices\n";
  out << "  " << placement.explanation << "\n";
  for (const auto& note : setup.notes) out << "  note: " << note << "\n";
  out << "\nDevices (GB / GiB)\n";
  out << std::left << std::setw(8) << "DEVICE" << std::right << std::setw(17) << "TOTAL" << std::setw(17) << "USABLE"
      << std::setw(17) << "RESIDENT" << std::setw(17) << "WINDOW" << std::setw(17) << "HEADROOM" << std::setw(17)
      << "PREDICTED PEAK" << "  FITS\n";
  for (const auto& d : prediction.devices) {
    const DeviceInfo* info = setup.budget.find(d.device);
    if (info->kind == DeviceKind::disk) continue;
    out << std::left << std::setw(8) << d.device << std::right << std::setw(17) << gb_gib(info->total_bytes) << std::setw(17)
        << gb_gib(d.usable_bytes) << std::setw(17) << gb_gib(d.resident_bytes) << std::setw(17) << gb_gib(d.window_bytes)
        << std::setw(17) << gb_gib(d.headroom_bytes) << std::setw(17) << gb_gib(d.peak_bytes) << "  " << (d.fits ? "yes" : "NO")
        << "\n";
  }
  out << "\nComponents\n";
  out << std::left << std::setw(14) << "COMPONENT" << std::right << std::setw(9) << "TOKENS" << std::setw(11) << "RESIDENT"
      << std::setw(11) << "STREAMED" << std::setw(9) << "CPU" << std::setw(22) << "STREAMED/PASS" << std::setw(14) << "PASS TIME"
      << "\n";
  for (std::size_t c = 0; c < graph.components.size(); ++c) {
    const Component& component = graph.components[c];
    std::size_t counts[3] = {0, 0, 0};
    for (const auto& unit : component.units)
      if (const auto* p = placement.find(component.name, unit.name)) ++counts[static_cast<int>(p->mode)];
    const auto& cp = prediction.components[c];
    out << std::left << std::setw(14) << component.name << std::right << std::setw(9) << cp.tokens << std::setw(11) << counts[0]
        << std::setw(11) << counts[1] << std::setw(9) << counts[2] << std::setw(22) << format_bytes(cp.streamed_bytes)
        << std::setw(14) << seconds_text(cp.step_seconds) << "\n";
  }
  out << "\nPredicted: load " << seconds_text(prediction.load_seconds) << ", one forward pass of every component "
      << seconds_text(prediction.step_seconds) << "; " << format_bytes(prediction.streamed_bytes_per_step)
      << " streamed per pass";
  if (prediction.streamed_bytes_per_step > 0) {
    const auto* gpu = setup.budget.gpus().empty() ? nullptr : setup.budget.gpus().front();
    const double bandwidth = gpu && gpu->host_to_device_bytes_per_s > 0 ? gpu->host_to_device_bytes_per_s : 25e9;
    out << " (" << seconds_text(static_cast<double>(prediction.streamed_bytes_per_step) / bandwidth) << " of copying at "
        << format_gb(static_cast<std::uint64_t>(bandwidth)) << " GB/s)";
  }
  out << "\n";
  if (!with_units) return;
  out << "\nUnits\n";
  out << std::left << std::setw(14) << "COMPONENT" << std::setw(44) << "UNIT" << std::right << std::setw(10) << "GB" << "  "
      << std::left << std::setw(10) << "MODE" << std::setw(9) << "STORAGE" << "EXECUTES ON\n";
  for (const auto& component : graph.components) {
    for (const auto& unit : component.units) {
      const auto* p = placement.find(component.name, unit.name);
      out << std::left << std::setw(14) << component.name << std::setw(44) << unit.name << std::right << std::setw(10)
          << format_gb(unit.bytes) << "  " << std::left << std::setw(10) << placement_mode_name(p->mode) << std::setw(9)
          << p->storage << p->executes_on << "\n";
    }
  }
}

nlohmann::json budget_json(const DeviceBudget& budget) {
  nlohmann::json devices = nlohmann::json::array();
  for (const auto& d : budget.devices) {
    nlohmann::json entry{{"name", d.name},
                         {"kind", std::string(device_kind_name(d.kind))},
                         {"description", d.description},
                         {"total_bytes", d.total_bytes},
                         {"free_bytes", d.free_bytes},
                         {"reserve_bytes", d.reserve_bytes},
                         {"headroom_bytes", d.headroom_bytes},
                         {"usable_bytes", d.usable_bytes}};
    entry["cap_bytes"] = d.cap_bytes ? nlohmann::json(*d.cap_bytes) : nlohmann::json();
    if (d.kind == DeviceKind::cuda) {
      entry["context_bytes"] = d.context_bytes;
      entry["host_to_device_bytes_per_s"] = d.host_to_device_bytes_per_s;
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
  doc["settings"] = placement.settings;
  doc["devices"] = budget_json(setup.budget);
  for (auto& device : doc["devices"]) {
    const auto* d = prediction.find(device["name"].get<std::string>());
    device["resident_bytes"] = d->resident_bytes;
    device["window_bytes"] = d->window_bytes;
    device["predicted_peak_bytes"] = d->peak_bytes;
    device["fits"] = d->fits;
  }
  doc["components"] = nlohmann::json::array();
  for (const auto& cp : prediction.components)
    doc["components"].push_back({{"name", cp.component}, {"tokens", cp.tokens}, {"streamed_bytes_per_pass", cp.streamed_bytes},
                                 {"pass_seconds", cp.step_seconds}});
  doc["units"] = nlohmann::json::array();
  for (const auto& component : setup.model.graph.components) {
    for (const auto& unit : component.units) {
      const auto* p = placement.find(component.name, unit.name);
      doc["units"].push_back({{"component", component.name},
                              {"name", unit.name},
                              {"bytes", unit.bytes},
                              {"mode", std::string(placement_mode_name(p->mode))},
                              {"storage", p->storage},
                              {"executes_on", p->executes_on}});
    }
  }
  doc["predicted"] = {{"load_seconds", prediction.load_seconds},
                      {"step_seconds", prediction.step_seconds},
                      {"streamed_bytes_per_step", prediction.streamed_bytes_per_step},
                      {"pinned_bytes", prediction.pinned_bytes}};
  return doc;
}

nlohmann::json hugging_face_device_map(const PlanningSetup& setup, const Placement& placement) {
  nlohmann::json maps = nlohmann::json::object();
  for (const auto& component : setup.model.graph.components) {
    nlohmann::ordered_json map = nlohmann::ordered_json::object();
    for (const auto& unit : component.units) {
      const auto* p = placement.find(component.name, unit.name);
      const DeviceInfo* storage = setup.budget.find(p->storage);
      if (storage->kind == DeviceKind::cuda) map[unit.name] = storage->index;
      else map[unit.name] = p->storage;  // "cpu" or "disk", as from_pretrained(device_map=...) spells them
    }
    maps[component.name] = map;
  }
  if (setup.model.source.layout != "diffusers pipeline" && setup.model.graph.components.size() == 1)
    return maps.begin().value();
  return maps;
}

}  // namespace vramguard
