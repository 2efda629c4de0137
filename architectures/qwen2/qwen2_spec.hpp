#pragma once
// Qwen2's unit rules and cost figures, which Qwen2.5-VL's text side shares.
#include <string>

#include "model/architecture.hpp"
#include "qwen2/qwen2_config.hpp"

namespace vramguard {

ArchitectureDescription qwen2_decoder_units(const std::string& class_name, const Qwen2Config& config);

}  // namespace vramguard
