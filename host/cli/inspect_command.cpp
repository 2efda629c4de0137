// `vramguard inspect MODEL`: what a model is made of, from its headers alone.
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
  doc["target_dtype"] = model.graph.target_dtype ? nlohmann::json(std::string(dtype_name(*model.graph.target_dtype))) : nlohmann::json();
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
    if (const Unit* largest = component.largest_unit()) entry["largest_unit"] = {{"name", largest->name}, {"bytes", largest->bytes}};
    if (with_units) {
      entry["unit_list"] = nlohmann::json::array();
      for (const auto& unit : component.units) {
        nlohmann::json u{{"name", unit.name},   {"kind", std::string(unit_kind_name(unit.kind))},
                         {"bytes", unit.bytes}, {"parameters", unit.parameters},
                         {"flops_per_token", unit.flops_per_token}, {"tensors", nlohmann::json::array()}};
        if (!unit.tie_group.empty()) u["tie_group"] = unit.tie_group;
        for (const auto& t : unit.tensors) {
          nlohmann::json tj{{"name", t.name}, {"dtype", std::string(dtype_name(t.dtype))}, {"shape", shape_json(t.shape)},
                            {"stored_bytes", t.stored_bytes}, {"bytes", t.bytes}};
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

void print_table(const InspectedModel& model, bool with_units, std::ostream& out) {
  const auto& graph = model.graph;
  out << "Model: " << model.source.argument << " (" << model.source.layout << ")";
  if (model.source.hub_revision) out << ", revision " << *model.source.hub_revision;
  out << "\nSizes " << (graph.target_dtype ? "in " + std::string(dtype_name(*graph.target_dtype)) : "as stored") << "\n\n";
  out << std::left << std::setw(14) << "COMPONENT" << std::setw(38) << "ARCHITECTURE" << std::right << std::setw(8)
      << "TENSORS" << std::setw(16) << "PARAMETERS" << std::setw(11) << "STORED GB" << std::setw(9) << "GB"
      << std::setw(9) << "GiB" << std::setw(7) << "UNITS" << "  LARGEST UNIT\n";
  for (std::size_t c = 0; c < graph.components.size(); ++c) {
    const Component& component = graph.components[c];
    std::uint64_t stored = 0;
    for (const auto& unit : component.units)
      for (const auto& tensor : unit.tensors) stored += tensor.stored_bytes;
    const Unit* largest = component.largest_unit();
    out << std::left << std::setw(14) << component.name << std::setw(38) << component.architecture << std::right
        << std::setw(8) << component.tensor_count() << std::setw(16) << text::thousands(component.parameters()) << std::setw(11)
        << format_gb(stored) << std::setw(9) << format_gb(component.bytes()) << std::setw(9) << format_gib(component.bytes())
        << std::setw(7) << component.units.size() << "  "
        << (largest ? largest->name + " (" + format_bytes(largest->bytes) + ")" : std::string("-")) << "\n";
  }
  out << std::left << std::setw(14) << "total" << std::setw(38) << "" << std::right << std::setw(8) << "" << std::setw(16)
      << text::thousands(graph.parameters()) << std::setw(11) << "" << std::setw(9) << format_gb(graph.bytes()) << std::setw(9)
      << format_gib(graph.bytes()) << std::setw(7) << graph.unit_count() << "\n";
  if (!with_units) return;
  for (const auto& component : graph.components) {
    out << "\n" << component.name << " — units in forward order:\n";
    out << std::right << std::setw(6) << "#" << "  " << std::left << std::setw(44) << "UNIT" << std::setw(10) << "KIND"
        << std::right << std::setw(8) << "TENSORS" << std::setw(11) << "GB" << std::setw(10) << "GiB" << "\n";
    for (std::size_t u = 0; u < component.units.size(); ++u) {
      const Unit& unit = component.units[u];
      out << std::right << std::setw(6) << u << "  " << std::left << std::setw(44) << unit.name << std::setw(10)
          << unit_kind_name(unit.kind) << std::right << std::setw(8) << unit.tensors.size() << std::setw(11)
          << format_gb(unit.bytes) << std::setw(10) << format_gib(unit.bytes)
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
                     own.options.add_options()("units", po::bool_switch(),
                                               "list every unit in forward order with its size");
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
