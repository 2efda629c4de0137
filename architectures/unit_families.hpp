#pragma once
// Each family's unit rules and cost figures (no libtorch: compiled into the host, which reads models
// before anything runs). One function per family, in its folder; the list in unit_families.cpp.
#include <string>

#include "model/architecture.hpp"

namespace vramguard {

ArchitectureDescription qwen2_decoder_units(const std::string& class_name, const ArchitectureConfig& config);
ArchitectureDescription qwen2_5_vl_units(const std::string& class_name, const ArchitectureConfig& config);
ArchitectureDescription qwenimage_transformer_units(const std::string& class_name, const ArchitectureConfig& config);
ArchitectureDescription qwenimage_vae_units(const std::string& class_name, const ArchitectureConfig& config);

}  // namespace vramguard
