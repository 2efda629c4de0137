#pragma once
// What each family's synthetic layout (architectures/<family>/<family>_layout.cpp) writes with: the exact
// tensor names and shapes its model class builds from a config. `vramguard synth` writes them, and the
// family's checks hold a checkpoint against them (common/tensor_shapes.hpp).
#include <cstdint>
#include <string>
#include <vector>

#include "model/component_layout.hpp"

namespace vramguard {

struct SynthBuilder {
  std::vector<SynthTensor>& out;
  void add(const std::string& name, std::vector<std::int64_t> shape) { out.push_back({name, std::move(shape)}); }
  void linear(const std::string& prefix, std::int64_t out_features, std::int64_t in_features, bool bias = true) {
    add(prefix + ".weight", {out_features, in_features});
    if (bias) add(prefix + ".bias", {out_features});
  }
};

}  // namespace vramguard
