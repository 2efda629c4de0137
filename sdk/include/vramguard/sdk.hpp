#pragma once
// Everything a strategy plugin needs, in one include.
#include "vramguard/byte_size.hpp"
#include "vramguard/cost_model.hpp"
#include "vramguard/device_budget.hpp"
#include "vramguard/dtype.hpp"
#include "vramguard/model_graph.hpp"
#include "vramguard/placement.hpp"
#include "vramguard/plan_helpers.hpp"
#include "vramguard/plugin_api.hpp"
#include "vramguard/strategy.hpp"
#include "vramguard/strategy_options.hpp"
