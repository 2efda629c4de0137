#pragma once
// A component's exact tensor names and shapes with its config.json, as its model class builds them:
// what each family's synthetic layout produces (architectures/<family>/<family>_layout.cpp) and what
// `vramguard synth` writes (host/synth).
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace vramguard {

struct SynthTensor {
  std::string name;
  std::vector<std::int64_t> shape;
  std::uint64_t elements() const {
    std::uint64_t n = 1;
    for (auto d : shape) n *= static_cast<std::uint64_t>(d);
    return n;
  }
};

struct SynthComponent {
  std::string name;              // "model", or a diffusers subfolder
  std::string weights_basename;  // "model" (transformers) or "diffusion_pytorch_model" (diffusers)
  nlohmann::ordered_json config;
  std::vector<SynthTensor> tensors;
  std::uint64_t parameters() const {
    std::uint64_t n = 0;
    for (const auto& t : tensors) n += t.elements();
    return n;
  }
};

}  // namespace vramguard
