#include <vramguard/plugin_api.hpp>

#include "my_strategy.hpp"

VRAMGUARD_REGISTER_STRATEGY(my_strategy::MyStrategy, "my-strategy", "0.1.0",
                            "everything resident on the first GPU (template)")
