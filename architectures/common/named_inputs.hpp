#pragma once
// What every family checks of an entry's inputs before anything loads, with errors that name the input
// ("input 'timestep'") and say what it must be.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "vramguard/runtime/architecture.hpp"

namespace vramguard::runtime {

// Every required input is there and every input is one the entry knows.
void check_input_names(const std::string& family, const EntryPoint& entry, const NamedTensors& inputs);
// A floating-point input of `rank` dimensions, none of them empty.
const at::Tensor& floating_input(const NamedTensors& inputs, const std::string& name, std::int64_t rank);
// An integer (or bool, when `bool_ok`) input of `rank` dimensions.
const at::Tensor& integer_input(const NamedTensors& inputs, const std::string& name, std::int64_t rank,
                                bool bool_ok = false);
// Dimension `dim` of input `name` is `expected` (`why` says where the number comes from).
void expect_size(const at::Tensor& tensor, const std::string& name, std::int64_t dim, std::int64_t expected,
                 const std::string& why);
// The checkpoint holds each of these tensors (full names); InputError naming the first one missing.
void require_tensors(const ComponentDescription& component, const std::string& family,
                     const std::vector<std::string>& names);
// The shape of a tensor the checkpoint holds; InputError when it has none of that name.
std::vector<std::int64_t> tensor_shape(const ComponentDescription& component, const std::string& family,
                                       const std::string& name);
bool has_tensor(const ComponentDescription& component, const std::string& name);
// The bytes of one element of the activations.
std::int64_t element_bytes(c10::ScalarType dtype);
// Whether the component's config names `class_name` (architectures / _class_name).
bool has_class(const ComponentDescription& component, const std::string& class_name);
// Whether the caller asked for the intermediate state `name`.
bool wants(const std::vector<std::string>& capture, const std::string& name);

}  // namespace vramguard::runtime
