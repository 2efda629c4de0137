#include "common/named_inputs.hpp"

#include <algorithm>

#include <c10/core/ScalarType.h>

#include "core/errors.hpp"

namespace vramguard::runtime {
namespace {

std::string shape_text(const at::Tensor& t) {
  std::string out = "[";
  for (std::int64_t d = 0; d < t.dim(); ++d) out += (d ? ", " : "") + std::to_string(t.size(d));
  return out + "]";
}

const at::Tensor& defined_input(const NamedTensors& inputs, const std::string& name, std::int64_t rank) {
  const auto it = inputs.find(name);
  if (it == inputs.end() || !it->second.defined()) throw InputError("input '" + name + "'", "is missing");
  const at::Tensor& t = it->second;
  if (t.dim() != rank)
    throw InputError("input '" + name + "'",
                     "must have " + std::to_string(rank) + " dimensions, not the shape " + shape_text(t));
  for (std::int64_t d = 0; d < t.dim(); ++d)
    if (t.size(d) == 0) throw InputError("input '" + name + "'", "is empty (shape " + shape_text(t) + ")");
  return t;
}

std::string listed(const std::vector<std::string>& names, const char* suffix = "") {
  std::string all;
  for (const auto& n : names) all += (all.empty() ? "" : ", ") + n + suffix;
  return all;
}

}  // namespace

void check_input_names(const std::string& family, const EntryPoint& entry, const NamedTensors& inputs) {
  for (const auto& name : entry.inputs)
    if (!inputs.count(name))
      throw InputError("input '" + name + "'",
                       "is missing: " + family + " " + entry.name + " needs " + listed(entry.inputs));
  for (const auto& [name, tensor] : inputs) {
    const bool known = std::count(entry.inputs.begin(), entry.inputs.end(), name) ||
                       std::count(entry.optional_inputs.begin(), entry.optional_inputs.end(), name);
    if (!known) {
      const std::string optional = listed(entry.optional_inputs, " (optional)");
      throw InputError("input '" + name + "'", "is not an input of " + family + " " + entry.name,
                       "its inputs: " + listed(entry.inputs) + (optional.empty() ? "" : ", " + optional));
    }
  }
}

const at::Tensor& floating_input(const NamedTensors& inputs, const std::string& name, std::int64_t rank) {
  const at::Tensor& t = defined_input(inputs, name, rank);
  if (!at::isFloatingType(t.scalar_type()))
    throw InputError("input '" + name + "'",
                     std::string("must hold floating-point values, not ") + c10::toString(t.scalar_type()));
  return t;
}

const at::Tensor& integer_input(const NamedTensors& inputs, const std::string& name, std::int64_t rank, bool bool_ok) {
  const at::Tensor& t = defined_input(inputs, name, rank);
  const bool ok = at::isIntegralType(t.scalar_type(), /*includeBool=*/bool_ok);
  if (!ok)
    throw InputError("input '" + name + "'", std::string("must hold integers") + (bool_ok ? " or booleans" : "") +
                                                 ", not " + c10::toString(t.scalar_type()));
  return t;
}

void expect_size(const at::Tensor& tensor, const std::string& name, std::int64_t dim, std::int64_t expected,
                 const std::string& why) {
  if (tensor.size(dim) != expected)
    throw InputError("input '" + name + "'", "has " + std::to_string(tensor.size(dim)) + " in dimension " +
                                                 std::to_string(dim) + " (shape " + shape_text(tensor) +
                                                 "); it must be " + std::to_string(expected) + ": " + why);
}

bool has_tensor(const ComponentDescription& component, const std::string& name) {
  for (const auto& unit : component.units)
    if (unit.find(name)) return true;
  return false;
}

std::vector<std::int64_t> tensor_shape(const ComponentDescription& component, const std::string& family,
                                       const std::string& name) {
  for (const auto& unit : component.units)
    if (const TensorDescription* t = unit.find(name)) return t->shape;
  throw InputError(component.name, "has no tensor " + name + ", which a " + family + " model needs",
                   "the checkpoint is incomplete, or not a " + family + " model");
}

void require_tensors(const ComponentDescription& component, const std::string& family,
                     const std::vector<std::string>& names) {
  for (const auto& name : names) tensor_shape(component, family, name);
}

std::int64_t element_bytes(c10::ScalarType dtype) { return static_cast<std::int64_t>(c10::elementSize(dtype)); }

bool has_class(const ComponentDescription& component, const std::string& class_name) {
  return std::count(component.classes.begin(), component.classes.end(), class_name) > 0;
}

bool wants(const std::vector<std::string>& capture, const std::string& name) {
  return std::find(capture.begin(), capture.end(), name) != capture.end();
}

}  // namespace vramguard::runtime
