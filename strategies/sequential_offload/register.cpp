#include <vramguard/plugin_api.hpp>

#include "sequential_offload/sequential_offload_strategy.hpp"

VRAMGUARD_REGISTER_STRATEGY(vramguard::strategies::SequentialOffloadStrategy, "sequential-offload", "1.0.0",
                            "the least VRAM: every unit streamed from pinned host memory into a prefetching window")
