#pragma once
// The logging facade. Callers pass finished strings; spdlog stays inside log.cpp, in a target that
// never sees libtorch headers (the PyTorch wheel bundles a newer fmt than spdlog's; a translation
// unit that sees both does not compile).
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

namespace vramguard::log {

enum class Level { trace, debug, info, warn, error, off };

// "trace" "debug" "info" "warn" "error" "off"
std::optional<Level> level_from_name(std::string_view name);
inline constexpr std::string_view kLevelNames = "trace, debug, info, warn, error, off";

void set_level(Level level);
// Where messages go instead of stderr (an embedding application's own logging: Python's); empty: stderr.
// Called on the thread that logs, with the level already checked.
using Sink = std::function<void(Level, std::string_view)>;
void set_sink(Sink sink);
Level level();
bool enabled(Level level);
void write(Level level, std::string_view message);

// Joins its arguments with operator<< : log::info("loaded ", n, " tensors").
template <typename... Parts>
std::string concat(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return out.str();
}

template <typename... Parts>
void trace(const Parts&... p) {
  if (enabled(Level::trace)) write(Level::trace, concat(p...));
}
template <typename... Parts>
void debug(const Parts&... p) {
  if (enabled(Level::debug)) write(Level::debug, concat(p...));
}
template <typename... Parts>
void info(const Parts&... p) {
  if (enabled(Level::info)) write(Level::info, concat(p...));
}
template <typename... Parts>
void warn(const Parts&... p) {
  if (enabled(Level::warn)) write(Level::warn, concat(p...));
}
template <typename... Parts>
void error(const Parts&... p) {
  if (enabled(Level::error)) write(Level::error, concat(p...));
}

}  // namespace vramguard::log
