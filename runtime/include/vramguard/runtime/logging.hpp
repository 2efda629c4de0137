#pragma once
// Where the runtime's log lines go: stderr by default ("[info] balanced: load..."), or an application's
// own logging (the Python module routes them to Python's `logging`).
#include <functional>
#include <string_view>

#include "vramguard/runtime/export.hpp"

namespace vramguard::runtime {

enum class LogLevel { trace, debug, info, warn, error, off };

// Lines below `level` are not even formatted.
VRAMGUARD_RUNTIME_API void set_log_level(LogLevel level);
// Lines go to `sink` instead of stderr; an empty function puts them back. The sink is called on the
// thread that logs (the caller's, or a loader thread's), so it must be safe to call from any thread.
VRAMGUARD_RUNTIME_API void set_log_sink(std::function<void(LogLevel, std::string_view)> sink);

}  // namespace vramguard::runtime
