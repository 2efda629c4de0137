// `vramguard inspect MODEL`: what a model is made of, from its headers alone.
#include <cstdio>
#include <iomanip>
#include <ostream>

#include <nlohmann/json.hpp>

#include "cli/command.hpp"
#include "engine/request_setup.hpp"
#include "request/cli_options.hpp"
#include "core/text.hpp"
#include "vramguard/byte_size.hpp"

namespace vramguard {
namespace {

nlohmann::json shape_json(const std::vector<std::int64_t>& shape) { return nlohmann::json(shape); }

nlohmann::json to_json(const InspectedModel& model, bool with_units) {
  nlohmann::json doc;
  doc["model"] = model.source.argument;
  doc["layout"] = model.source.layout;
  if (model.source.hub_revision) doc["revision"] = *model.source.hub_revision;
  doc["target_dtype"] =
      model.graph.target_dtype ? nlohmann::json(std::string(dtype_name(*model.graph.target_dtype))) : nlohmann::json();
  doc["parameters"] = model.graph.parameters();
  doc["bytes"] = model.graph.bytes();
  doc["components"] = nlohmann::json::array();
  for (std::size_t c = 0; c < model.graph.components.size(); ++c) {
    const Component& component = model.graph.components[c];
    std::uint64_t stored = 0;
    for (const auto& unit : component.units)
      for (const auto& tensor : unit.tensors) stored += tensor.stored_bytes;
    nlohmann::json entry{{"name", component.name},
                         {"architecture", component.architecture},
                         {"files", model.components[c].source.weight_files.size()},
                         {"tensors", component.tensor_count()},
                         {"tied_tensors", component.tied_tensor_count()},
                         {"parameters", component.parameters()},
                         {"stored_bytes", stored},
                         {"bytes", component.bytes()},
                         {"units", component.units.size()},
                         {"activation_bytes_per_token", component.activation_bytes_per_token},
                         {"default_tokens", component.default_tokens}};
    if (const Unit* largest = component.largest_unit())
      entry["largest_unit"] = {{"name", largest->name}, {"bytes", largest->bytes}};
    if (with_units) {
      entry["unit_list"] = nlohmann::json::array();
      for (const auto& unit : component.units) {
        nlohmann::json u{{"name", unit.name},
                         {"kind", std::string(unit_kind_name(unit.kind))},
                         {"bytes", unit.bytes},
                         {"parameters", unit.parameters},
                         {"flops_per_token", unit.flops_per_token},
                         {"tensors", nlohmann::json::array()}};
        if (!unit.tie_group.empty()) u["tie_group"] = unit.tie_group;
        for (const auto& t : unit.tensors) {
          nlohmann::json tj{{"name", t.name},
                            {"dtype", std::string(dtype_name(t.dtype))},
                            {"shape", shape_json(t.shape)},
                            {"stored_bytes", t.stored_bytes},
                            {"bytes", t.bytes}};
          if (!t.tied_to.empty()) tj["tied_to"] = t.tied_to;
          u["tensors"].push_back(tj);
        }
        entry["unit_list"].push_back(u);
      }
    }
    doc["components"].push_back(entry);
  }
  return doc;
}

// Sizes in the unit that suits the model: a tiny test model in KB, a 20 B transformer in GB, never a
// column of 0.00. Decimal and binary side by side, as everywhere in vramguard.
struct SizeScale {
  std::string decimal, binary;
  double decimal_bytes, binary_bytes;
  std::string operator()(std::uint64_t bytes, bool binary_unit = false) const {
    char text[32];
    std::snprintf(text, sizeof text, "%.2f", static_cast<double>(bytes) / (binary_unit ? binary_bytes : decimal_bytes));
    return text;
  }
};

SizeScale scale_for(std::uint64_t largest_bytes) {
  if (largest_bytes >= 1'000'000'000ULL) return {"GB", "GiB", 1e9, 1073741824.0};
  if (largest_bytes >= 1'000'000ULL) return {"MB", "MiB", 1e6, 1048576.0};
  return {"KB", "KiB", 1e3, 1024.0};
}

std::uint64_t stored_bytes(const Component& component) {
  std::uint64_t stored = 0;
  for (const auto& unit : component.units)
    for (const auto& tensor : unit.tensors) stored += tensor.stored_bytes;
  return stored;
}

void print_table(const InspectedModel& model, bool with_units, std::ostream& out) {
  const auto& graph = model.graph;
  out << "Model: " << model.source.argument << " (" << model.source.layout << ")";
  if (model.source.hub_revision) out << ", revision " << *model.source.hub_revision;
  out << "\nSizes " << (graph.target_dtype ? "in " + std::string(dtype_name(*graph.target_dtype)) : "as stored")
      << "\n\n";
  const SizeScale scale = scale_for(graph.bytes());
  // The stored size has a column of its own only where --dtype changes it.
  bool converted = false;
  for (const auto& component : graph.components) converted = converted || stored_bytes(component) != component.bytes();
  out << std::left << std::setw(14) << "COMPONENT" << std::setw(38) << "ARCHITECTURE" << std::right << std::setw(8)
      << "TENSORS" << std::setw(16) << "PARAMETERS";
  if (converted) out << std::setw(11) << "STORED " + scale.decimal;
  out << std::setw(9) << scale.decimal << std::setw(9) << scale.binary << std::setw(7) << "UNITS"
      << "  LARGEST UNIT\n";
  for (std::size_t c = 0; c < graph.components.size(); ++c) {
    const Component& component = graph.components[c];
    const Unit* largest = component.largest_unit();
    out << std::left << std::setw(14) << component.name << std::setw(38) << component.architecture << std::right
        << std::setw(8) << component.tensor_count() << std::setw(16) << text::thousands(component.parameters());
    if (converted) out << std::setw(11) << scale(stored_bytes(component));
    out << std::setw(9) << scale(component.bytes()) << std::setw(9) << scale(component.bytes(), true) << std::setw(7)
        << component.units.size() << "  "
        << (largest ? largest->name + ": " + format_bytes(largest->bytes) : std::string("-")) << "\n";
  }
  out << std::left << std::setw(14) << "total" << std::setw(38) << "" << std::right << std::setw(8) << ""
      << std::setw(16) << text::thousands(graph.parameters());
  if (converted) out << std::setw(11) << "";
  out << std::setw(9) << scale(graph.bytes()) << std::setw(9) << scale(graph.bytes(), true) << std::setw(7)
      << graph.unit_count() << "\n";
  if (!with_units) return;
  for (const auto& component : graph.components) {
    out << "\n" << component.name << " — units in forward order:\n";
    const Unit* largest = component.largest_unit();
    const SizeScale units_scale = scale_for(largest ? largest->bytes : 0);
    out << std::right << std::setw(6) << "#"
        << "  " << std::left << std::setw(44) << "UNIT" << std::setw(10) << "KIND" << std::right << std::setw(8)
        << "TENSORS" << std::setw(11) << units_scale.decimal << std::setw(10) << units_scale.binary << "\n";
    for (std::size_t u = 0; u < component.units.size(); ++u) {
      const Unit& unit = component.units[u];
      out << std::right << std::setw(6) << u << "  " << std::left << std::setw(44) << unit.name << std::setw(10)
          << unit_kind_name(unit.kind) << std::right << std::setw(8) << unit.tensors.size() << std::setw(11)
          << units_scale(unit.bytes) << std::setw(10) << units_scale(unit.bytes, true)
          << (unit.tie_group.empty() ? "" : "  shares " + unit.tie_group) << "\n";
    }
  }
}

}  // namespace

Command inspect_command() {
  CommandSpec spec{"inspect", "show a model's components, units, parameters and sizes, from headers alone",
                   "vramguard inspect MODEL [--units] [--dtype D] [--json]",
                   "MODEL is a .safetensors file, a *.safetensors.index.json, a transformers folder, a diffusers "
                   "pipeline folder, or org/name[@revision] from the Hugging Face cache (resolved offline).",
                   [](CommandOptions& own) {
                     declare_model_options(own);
                     // clang-format off
                     own.options.add_options()
                         ("units", po::bool_switch(), "list every unit in forward order with its size");
                     // clang-format on
                   }};
  return {spec, [](const Invocation& invocation, CommandIO& io) {
            const InspectedModel model = inspect_requested(load_request_from(invocation));
            const bool units = invocation.flag("units");
            if (invocation.flag("json")) io.out << to_json(model, units).dump(2) << '\n';
            else print_table(model, units, io.out);
            return 0;
          }};
}

}  // namespace vramguard
