// The plugin's registration record: what `vramguard plugins` lists, and the factory it calls.
#include <vramguard/plugin_api.hpp>

#include "gpu_first.hpp"

VRAMGUARD_REGISTER_STRATEGY(gpu_first::GpuFirstStrategy, "gpu-first", "1.0.0",
                            "fill GPUs in order; what does not fit is streamed from CPU memory")
