#include "logging/log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <memory>
#include <mutex>

namespace vramguard::log {
namespace {

std::atomic<Level> g_level{Level::info};

// The sink is swapped rarely and read on every message: readers copy the pointer under the lock and
// call it outside, so a sink may log, and a swap never waits for a message being written.
std::mutex g_sink_mutex;
std::shared_ptr<const Sink> g_sink;

spdlog::logger& logger() {
  // stderr, so that stdout carries only results (tables, JSON) that scripts can read. Not registered
  // in spdlog's registry: that registry is shared by every copy of this facade in the process (the
  // CLI's and the runtime library's, both linking Debian's shared libspdlog), and a second
  // registration of one name throws.
  static const std::shared_ptr<spdlog::logger> instance = [] {
    auto made = std::make_shared<spdlog::logger>("vramguard", std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
    made->set_pattern("%^[%l]%$ %v");
    made->set_level(spdlog::level::trace);
    return made;
  }();
  return *instance;
}

spdlog::level::level_enum to_spdlog(Level level) {
  switch (level) {
    case Level::trace: return spdlog::level::trace;
    case Level::debug: return spdlog::level::debug;
    case Level::info: return spdlog::level::info;
    case Level::warn: return spdlog::level::warn;
    case Level::error: return spdlog::level::err;
    case Level::off: return spdlog::level::off;
  }
  return spdlog::level::info;
}

}  // namespace

std::optional<Level> level_from_name(std::string_view name) {
  if (name == "trace") return Level::trace;
  if (name == "debug") return Level::debug;
  if (name == "info") return Level::info;
  if (name == "warn" || name == "warning") return Level::warn;
  if (name == "error") return Level::error;
  if (name == "off") return Level::off;
  return std::nullopt;
}

void set_level(Level level) { g_level = level; }
Level level() { return g_level; }
bool enabled(Level level) { return level != Level::off && level >= g_level.load(); }

void set_sink(Sink sink) {
  std::shared_ptr<const Sink> next = sink ? std::make_shared<const Sink>(std::move(sink)) : nullptr;
  std::lock_guard lock(g_sink_mutex);
  g_sink = std::move(next);
}

void write(Level level, std::string_view message) {
  std::shared_ptr<const Sink> sink;
  {
    std::lock_guard lock(g_sink_mutex);
    sink = g_sink;
  }
  if (sink) (*sink)(level, message);
  else logger().log(to_spdlog(level), "{}", message);
}

}  // namespace vramguard::log
