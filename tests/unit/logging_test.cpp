// The logging facade, as the CLI and the runtime library it opens both carry a copy of it in one
// process, over one shared libspdlog.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <gtest/gtest.h>

#include "logging/log.hpp"

namespace vramguard {

TEST(Logging, AnotherCopyOfTheFacadeInTheProcessDoesNotBreakIt) {
  // What the runtime library's copy does first: a logger named "vramguard" in spdlog's registry. The
  // CLI's copy logging afterwards once threw "logger with name 'vramguard' already exists" (exit 1
  // after an edit's whole work, for --log-level debug or a replaced --report).
  const auto other = spdlog::stderr_color_mt("vramguard");
  log::set_level(log::Level::debug);
  EXPECT_NO_THROW(log::debug("a line from the CLI's copy"));
  EXPECT_NO_THROW(log::info("and another"));
  spdlog::drop("vramguard");
}

}  // namespace vramguard
