#include "vramguard/runtime/logging.hpp"

#include "logging/log.hpp"

namespace vramguard::runtime {

// The public levels are the facade's, in the same order.
static_assert(static_cast<int>(LogLevel::off) == static_cast<int>(log::Level::off));

void set_log_level(LogLevel level) { log::set_level(static_cast<log::Level>(level)); }

void set_log_sink(std::function<void(LogLevel, std::string_view)> sink) {
  if (!sink) return log::set_sink({});
  log::set_sink([sink = std::move(sink)](log::Level level, std::string_view message) {
    sink(static_cast<LogLevel>(level), message);
  });
}

}  // namespace vramguard::runtime
