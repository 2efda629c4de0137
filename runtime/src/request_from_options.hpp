#pragma once
// The runtime API's edge: Options (and so Python's keywords) → the LoadRequest the CLI's `plan` or
// `load` would make of the same settings. The values go in by option name — no command line is
// built — and pass the CLI's own checks: the same messages, the same config files and VRAMGUARD_*
// variables underneath.
#include <string>

#include "request/load_request.hpp"
#include "vramguard/runtime/options.hpp"

namespace vramguard::runtime {

enum class Work { plan, load };

LoadRequest request_from_options(const std::string& model, const Options& options, Work work);

}  // namespace vramguard::runtime
