#include <vramguard/plugin_api.hpp>

#include "auto/auto_strategy.hpp"

VRAMGUARD_REGISTER_STRATEGY(vramguard::strategies::AutoStrategy, "auto", "1.0.0",
                            "the fastest placement that fits, by the cost model, with a one-line reason")
