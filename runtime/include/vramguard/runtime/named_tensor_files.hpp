#pragma once
// Named tensors in safetensors files: the inputs `vramguard run --input` reads and the outputs
// `--output` writes, named as the entry's arguments and results; an edit's --latents.
#include <filesystem>

#include "vramguard/runtime/architecture.hpp"
#include "vramguard/runtime/export.hpp"

namespace vramguard::runtime {

// Every tensor of the file, on the CPU. InputError naming the file for a malformed one or a dtype
// libtorch has no type for.
VRAMGUARD_RUNTIME_API NamedTensors read_named_tensors(const std::filesystem::path& file);
// JobError naming the file when it cannot be written whole.
VRAMGUARD_RUNTIME_API void write_named_tensors(const std::filesystem::path& file, const NamedTensors& tensors);

}  // namespace vramguard::runtime
