#include "model_description.hpp"

namespace vramguard::runtime {

const TensorDescription* UnitDescription::find(std::string_view tensor) const {
  for (const auto& t : tensors)
    if (t.name == tensor) return &t;
  return nullptr;
}

const UnitDescription* ComponentDescription::find(std::string_view unit) const {
  for (const auto& u : units)
    if (u.name == unit) return &u;
  return nullptr;
}

std::vector<const UnitDescription*> ComponentDescription::module(std::string_view module_name) const {
  std::vector<const UnitDescription*> out;
  for (const auto& u : units)
    if (u.name == module_name || u.slice_of == module_name) out.push_back(&u);
  return out;
}

const ComponentDescription* ModelDescription::find(std::string_view component) const {
  for (const auto& c : components)
    if (c.name == component) return &c;
  return nullptr;
}

ModelDescription describe(const InspectedModel& model) {
  ModelDescription out;
  out.source = model.source.argument;
  for (std::size_t c = 0; c < model.graph.components.size(); ++c) {
    const Component& component = model.graph.components[c];
    const ComponentSource& source = model.components[c].source;
    ComponentDescription d;
    d.name = component.name;
    if (source.config) {
      d.config = *source.config;
      d.config_file = (source.directory / "config.json").string();
      if (const auto it = d.config.find("architectures"); it != d.config.end() && it->is_array())
        for (const auto& name : *it)
          if (name.is_string()) d.classes.push_back(name.get<std::string>());
      if (const auto it = d.config.find("_class_name"); it != d.config.end() && it->is_string())
        d.classes.push_back(it->get<std::string>());
    }
    for (const auto& file : source.weight_files) d.weight_files.push_back(file.string());
    for (const auto& unit : component.units) {
      UnitDescription u;
      u.name = unit.name;
      u.kind = std::string(unit_kind_name(unit.kind));
      u.slice_of = unit.slice_of;
      for (const auto& tensor : unit.tensors)
        u.tensors.push_back({tensor.name, tensor.shape,
                             std::string(dtype_name(placed_dtype(tensor.dtype, model.graph.target_dtype))),
                             tensor.tied_to, tensor.first_row});
      d.units.push_back(std::move(u));
    }
    for (const auto& adapter : model.components[c].adapters)
      d.adapters.push_back({adapter.weight, adapter.down, adapter.up, adapter.scale, adapter.file});
    out.components.push_back(std::move(d));
  }
  return out;
}

}  // namespace vramguard::runtime
