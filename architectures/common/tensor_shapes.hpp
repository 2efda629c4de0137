#pragma once
// A checkpoint held against what its config describes: the family's layout (the exact tensor names and
// shapes its model class builds from the config, as `synth` writes them) against the tensors the
// checkpoint's headers hold, before anything loads. A config that contradicts its weights (another
// model's, an edited key, a transposed tensor) is refused naming the tensor and both shapes, where
// running it would end in a raw shape error deep in a forward pass, or compute garbage.
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "model/component_layout.hpp"
#include "vramguard/runtime/session.hpp"

namespace vramguard::runtime {

// Every tensor of `expected` is in the checkpoint with that shape, and the checkpoint holds no tensor
// `expected` lacks. `config_keys` names the config's keys the shapes come from. InputError naming the
// component's config file otherwise.
void check_tensor_shapes(const ComponentDescription& component, const std::vector<SynthTensor>& expected,
                         const std::string& config_keys);

// For a checkpoint without the first of the blocks its config describes (`first_block_tensor`): another
// model's weights, as a file given for the component may be. InputError naming a few of the names it holds.
[[noreturn]] void refuse_checkpoint_without_blocks(const ComponentDescription& component,
                                                   const std::string& first_block_tensor);

// The elements of the component's largest weight stored in fp8 (0 without one): a Linear turns its
// weight into the compute dtype where it runs, one weight-sized tensor beside the activations; not
// those of `fp8_matmuls` (full names), which an fp8 matmul multiplies as they are.
std::int64_t largest_fp8_weight_elements(const ComponentDescription& component,
                                         const std::set<std::string>& fp8_matmuls = {});

}  // namespace vramguard::runtime
