// The typed request each edge makes: the CLI's command line, VRAMGUARD_* variables and config file,
// and settings given by name (the runtime API's), through the same checks to the same typed values.
#include <gtest/gtest.h>

#include "config/invocation.hpp"
#include "core/errors.hpp"
#include "request/cli_options.hpp"
#include "support/temp_dir.hpp"

using namespace vramguard;
using vramguard::testing::TempDir;

namespace {

CommandSpec load_spec() {
  return {"load", "load a model", "vramguard load MODEL", "", [](CommandOptions& own) {
            declare_planning_options(own);
            declare_guard_options(own);
            // clang-format off
            own.options.add_options()
                ("strategy", po::value<std::string>()->default_value("auto"), "the first strategy")
                ("verify-data", po::bool_switch(), "verify");
            // clang-format on
          }};
}

LoadRequest from_command_line(const std::vector<std::string>& args, const Environment& environment = {}) {
  return load_request_from(parse_invocation(args, {load_spec()}, environment));
}

}  // namespace

TEST(LoadRequest, HoldsTypedValuesFromEverySource) {
  TempDir dir;
  const auto config = dir.write("c.ini", "reserve = 4GB\ndtype = bf16\n[strategy.sequential-offload]\nprefetch = 2\n");
  const LoadRequest request = from_command_line({"load",
                                                 "m",
                                                 "--config",
                                                 config.string(),
                                                 "--max-memory",
                                                 "0=12GB,cpu=64GiB",
                                                 "--strategy",
                                                 "sequential-offload",
                                                 "--fallback",
                                                 "balanced, auto",
                                                 "--tokens",
                                                 "300",
                                                 "--stream-from",
                                                 "pinned",
                                                 "--option",
                                                 "balanced.low_zero=true",
                                                 "--simulate",
                                                 "rtx4080",
                                                 "--simulate-oom-at-step",
                                                 "2"},
                                                {{"VRAMGUARD_HEADROOM", "1GB"}});
  EXPECT_EQ(request.model, "m");
  EXPECT_EQ(request.strategy, "sequential-offload");
  EXPECT_TRUE(request.strategy_given);
  EXPECT_EQ(request.fallback, (std::vector<std::string>{"balanced", "auto"}));
  EXPECT_EQ(request.budget.max_memory.at(DeviceId::gpu(0)), 12'000'000'000u);
  EXPECT_EQ(request.budget.max_memory.at(DeviceId::host()), 64ULL << 30);
  EXPECT_EQ(request.budget.reserve_all, 4'000'000'000u);  // from the config file
  EXPECT_EQ(request.budget.headroom, 1'000'000'000u);     // from the environment
  EXPECT_EQ(request.inspect.target_dtype, DType::BF16);
  EXPECT_EQ(request.workload.tokens, 300u);
  EXPECT_EQ(request.stream_source, StreamSource::pinned_copy);
  ASSERT_TRUE(request.simulate);
  EXPECT_EQ(request.simulate->spec, "rtx4080");
  EXPECT_EQ(request.simulate->faults.fail_at_step, 2u);
  EXPECT_EQ(request.strategy_options_for("sequential-offload", true), (StrategyOptions{{"prefetch", "2"}}));
  EXPECT_EQ(request.strategy_options_for("balanced", false), (StrategyOptions{{"low_zero", "true"}}));
}

TEST(LoadRequest, SettingsByNameMakeTheSameRequestAsTheCommandLine) {
  const LoadRequest typed = load_request_from(invocation_from_settings(load_spec(),
                                                                       {{"model", "m"},
                                                                        {"max_memory", "0=12GB"},
                                                                        {"strategy", "balanced"},
                                                                        {"max-attempts", "2"},
                                                                        {"verify-data", "true"}},
                                                                       {}));
  const LoadRequest parsed = from_command_line(
      {"load", "m", "--max-memory", "0=12GB", "--strategy", "balanced", "--max-attempts", "2", "--verify-data"});
  EXPECT_EQ(typed.budget.max_memory, parsed.budget.max_memory);
  EXPECT_EQ(typed.strategy, parsed.strategy);
  EXPECT_EQ(typed.max_attempts, 2u);
  EXPECT_EQ(parsed.max_attempts, 2u);
  EXPECT_TRUE(typed.verify_data);
  EXPECT_TRUE(parsed.verify_data);
}

TEST(LoadRequest, EveryBadValueIsRefusedAtTheEdgeNamingIt) {
  auto refusal = [](const std::vector<std::string>& args) {
    try {
      from_command_line(args);
    } catch (const UsageError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_NE(refusal({"load", "m", "--max-memory", "0=12 parsecs"}).find("max-memory"), std::string::npos);
  EXPECT_NE(refusal({"load", "m", "--stream-from", "carrier-pigeon"}).find("--stream-from 'carrier-pigeon'"),
            std::string::npos);
  EXPECT_NE(refusal({"load", "m", "--simulate-oom-at-step", "2"}).find("works only with --simulate"),
            std::string::npos);
  EXPECT_NE(refusal({"load", "m", "--option", "prefetch"}).find("--option 'prefetch' is not KEY=VALUE"),
            std::string::npos);
  EXPECT_NE(refusal({"load", "m", "--dtype", "int3"}).find("--dtype 'int3' is not a dtype vramguard loads weights as"),
            std::string::npos);
  EXPECT_NE(refusal({"load"}).find("no MODEL given"), std::string::npos);
  try {
    invocation_from_settings(load_spec(), {{"model", "m"}, {"max_memroy", "0=12GB"}}, {});
    ADD_FAILURE() << "a misspelled setting was accepted";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown setting 'max_memroy'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("max-memory"), std::string::npos) << e.what();
  }
}
