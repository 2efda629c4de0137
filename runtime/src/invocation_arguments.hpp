#pragma once
// Options → the arguments the CLI would take for the same work: one parser, one set of checks and
// messages for the CLI, the runtime API and the Python module.
#include <string>
#include <vector>

#include "config/invocation.hpp"
#include "vramguard/runtime/options.hpp"

namespace vramguard::runtime {

enum class Work { plan, load };

// `vramguard plan` or `load` arguments for `model` under `options` (load adds the guard's).
std::vector<std::string> invocation_arguments(Work work, const std::string& model, const Options& options);
// Parses them as the CLI would, with the process's environment and the config they name.
Invocation parse_options(Work work, const std::string& model, const Options& options);

}  // namespace vramguard::runtime
