#include <vramguard/plugin_api.hpp>

#include "balanced/balanced_strategy.hpp"

VRAMGUARD_REGISTER_STRATEGY(vramguard::strategies::BalancedStrategy, "balanced", "1.0.0",
                            "accelerate's device_map=\"balanced\": even budgets, greedy fill, offload to CPU then disk")
