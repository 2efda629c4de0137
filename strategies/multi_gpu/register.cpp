#include <vramguard/plugin_api.hpp>

#include "multi_gpu/multi_gpu_strategy.hpp"

VRAMGUARD_REGISTER_STRATEGY(vramguard::strategies::MultiGpuStrategy, "multi-gpu", "1.0.0",
                            "a layer split across all GPUs in proportion to their memory; the rest streamed")
