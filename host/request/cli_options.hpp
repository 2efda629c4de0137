#pragma once
// The CLI's edge: the options of the commands that read, plan and load a model, and the one place
// their text becomes a typed LoadRequest — every value checked, every error naming the option. The
// runtime API reads config files and VRAMGUARD_* variables through the same declarations, so a key
// means the same thing everywhere.
#include <cstdint>

#include "config/invocation.hpp"
#include "request/load_request.hpp"
#include "vramguard/load_options.hpp"

namespace vramguard {

// MODEL, --dtype, --unit-rules, --slice-vocabulary: every command that reads a model.
void declare_model_options(CommandOptions& own);
// The devices, the budget, the workload and strategy options: every command that plans.
void declare_planning_options(CommandOptions& own);
// The fallback ladder, the allocator settings, how weights travel, and the simulated faults: the
// commands that load (it includes declare_simulated_neighbours).
void declare_guard_options(CommandOptions& own);
// Other programs on simulated GPUs (real processes, a usage timeline), a simulated memlock limit, link
// and MIG: what doctor, fix and monitor show.
void declare_simulated_neighbours(CommandOptions& own);
// --height and --width: the pixels of generated inputs for image models (run, compare --measure).
void declare_image_size_options(CommandOptions& own);

// The request this invocation makes. UsageError (or InputError for a file) for anything it cannot
// understand: a size, a device, a fault only --simulate can inject, an unknown --stream-from. Without
// `model_required` (doctor, monitor) the request may name no model: it then describes the devices.
LoadRequest load_request_from(const Invocation& invocation, bool model_required = true);
// The same from the invocation's options already read (a command that reads options of its own too).
LoadRequest load_request_from(const Invocation& invocation, const LoadOptions& options, bool model_required = true);
// --plugin-dir, VRAMGUARD_PLUGIN_PATH, the config's plugin_dirs and the --allow-* switches.
PluginSearch plugin_search_from(const Invocation& invocation);

struct ImageSize {
  std::uint64_t height = 0, width = 0;  // 0: the family's default
};
ImageSize image_size_from(const Invocation& invocation);

}  // namespace vramguard
