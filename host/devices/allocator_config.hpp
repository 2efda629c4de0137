#pragma once
// PyTorch's CUDA caching allocator reads its settings from the environment once, when CUDA starts,
// so they are set in preflight before any CUDA call. The user's own settings always win.
#include <string>

namespace vramguard {

// Sets PYTORCH_CUDA_ALLOC_CONF and PYTORCH_ALLOC_CONF to `wanted` where the user set neither; returns
// what is in effect and who chose it, e.g. "expandable_segments:True (set by vramguard)".
std::string configure_cuda_allocator(const std::string& wanted);

}  // namespace vramguard
