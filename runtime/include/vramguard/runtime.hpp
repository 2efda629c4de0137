#pragma once
// The runtime API: open a model through the memory guard and run it (libtorch by nature; the plugin
// SDK, vramguard/sdk.hpp, stays free of it). Link vramguard::runtime.
#include "vramguard/runtime/architecture.hpp"
#include "vramguard/runtime/logging.hpp"
#include "vramguard/runtime/plan.hpp"
#include "vramguard/runtime/options.hpp"
#include "vramguard/runtime/session.hpp"
