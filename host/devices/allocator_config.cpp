#include "devices/allocator_config.hpp"

#include <cstdlib>

namespace vramguard {

std::string configure_cuda_allocator(const std::string& wanted) {
  // PyTorch 2.9+ reads PYTORCH_ALLOC_CONF and still honours the older PYTORCH_CUDA_ALLOC_CONF.
  for (const char* name : {"PYTORCH_ALLOC_CONF", "PYTORCH_CUDA_ALLOC_CONF"}) {
    const char* value = std::getenv(name);
    if (value != nullptr && *value != '\0') {
      const std::string setting = value;
      ::setenv("PYTORCH_ALLOC_CONF", value, 0);
      ::setenv("PYTORCH_CUDA_ALLOC_CONF", value, 0);
      return setting + " (from " + name + ")";
    }
  }
  if (wanted.empty()) return "PyTorch defaults";
  ::setenv("PYTORCH_ALLOC_CONF", wanted.c_str(), 1);
  ::setenv("PYTORCH_CUDA_ALLOC_CONF", wanted.c_str(), 1);
  return wanted + " (set by vramguard)";
}

}  // namespace vramguard
