#pragma once
// The built-in families, one folder each under architectures/. Adding one: its folder, its factory
// declared here, and one line in registry.cpp.
#include <memory>

#include "vramguard/runtime/architecture.hpp"

namespace vramguard::runtime {

std::shared_ptr<const Architecture> make_qwen2_architecture();
std::shared_ptr<const Architecture> make_qwen2_5_vl_architecture();
std::shared_ptr<const Architecture> make_qwenimage_transformer_architecture();
std::shared_ptr<const Architecture> make_qwenimage_vae_architecture();

}  // namespace vramguard::runtime
