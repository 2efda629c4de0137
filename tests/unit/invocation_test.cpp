// Options resolve with a fixed precedence: command line > VRAMGUARD_* environment > config file >
// defaults; anything not understood is refused with the nearest valid word.
#include <gtest/gtest.h>

#include "config/invocation.hpp"
#include "core/errors.hpp"
#include "support/temp_dir.hpp"

using namespace vramguard;
using vramguard::testing::TempDir;

namespace {

std::vector<CommandSpec> test_commands() {
  return {
      {"plan", "make a plan", "vramguard plan MODEL", "",
       [](CommandOptions& own) {
         // clang-format off
         own.options.add_options()
             ("model", po::value<std::string>(), "model")
             ("strategy", po::value<std::string>()->default_value("auto"), "strategy")
             ("tokens", po::value<int>(), "tokens");
         // clang-format on
         own.positional.add("model", 1);
       }},
      {"plugins", "list plugins", "vramguard plugins", "", nullptr},
      {"fix", "fix it", "vramguard fix MODEL", "",
       [](CommandOptions& own) {
         // clang-format off
         own.options.add_options()
             ("model", po::value<std::string>(), "model")
             ("terminate-own", po::bool_switch(), "stop")
             ("yes", po::bool_switch(), "consent")
             ("on-alert", po::value<std::string>(), "command");
         // clang-format on
         own.positional.add("model", 1);
       }},
  };
}

Invocation parse(const std::vector<std::string>& args, const Environment& environment = {}) {
  return parse_invocation(args, test_commands(), environment);
}

}  // namespace

TEST(Invocation, DefaultsApplyWhenNothingElseSaysOtherwise) {
  const auto invocation = parse({"plan", "model-dir"});
  EXPECT_EQ(invocation.command, "plan");
  EXPECT_EQ(invocation.text("model"), "model-dir");
  EXPECT_EQ(invocation.text("strategy"), "auto");
  EXPECT_EQ(invocation.text("log-level"), "info");
  EXPECT_FALSE(invocation.flag("json"));
}

TEST(Invocation, ConfigFileOverridesDefaults) {
  TempDir dir;
  const auto config = dir.write("c.ini", "log_level = debug\nstrategy = balanced\njson = true\n");
  const auto invocation = parse({"plan", "m", "--config", config.string()});
  EXPECT_EQ(invocation.text("log-level"), "debug");
  EXPECT_EQ(invocation.text("strategy"), "balanced");
  EXPECT_TRUE(invocation.flag("json"));
}

TEST(Invocation, EnvironmentOverridesConfigFile) {
  TempDir dir;
  const auto config = dir.write("c.ini", "log_level = debug\nstrategy = balanced\n");
  const auto invocation =
      parse({"plan", "m", "--config", config.string()}, {{"VRAMGUARD_STRATEGY", "sequential-offload"}});
  EXPECT_EQ(invocation.text("strategy"), "sequential-offload");
  EXPECT_EQ(invocation.text("log-level"), "debug");
}

TEST(Invocation, CommandLineOverridesEnvironmentAndConfigFile) {
  TempDir dir;
  const auto config = dir.write("c.ini", "strategy = balanced\nlog_level = warn\n");
  const auto invocation = parse({"plan", "m", "--strategy", "multi-gpu", "--log-level", "error"},
                                {{"VRAMGUARD_STRATEGY", "sequential-offload"}, {"VRAMGUARD_CONFIG", config.string()}});
  EXPECT_EQ(invocation.text("strategy"), "multi-gpu");
  EXPECT_EQ(invocation.text("log-level"), "error");
}

TEST(Invocation, ConfigFileCanBeNamedByTheEnvironment) {
  TempDir dir;
  const auto config = dir.write("c.ini", "strategy = balanced\n");
  const auto invocation = parse({"plan", "m"}, {{"VRAMGUARD_CONFIG", config.string()}});
  EXPECT_EQ(invocation.text("strategy"), "balanced");
}

TEST(Invocation, StrategySectionsBecomeStrategyOptions) {
  TempDir dir;
  const auto config = dir.write("c.ini",
                                "strategy = balanced\n[strategy.balanced]\nlow_zero = true\n"
                                "[strategy.sequential-offload]\nkeep_resident = 2\n");
  const auto invocation = parse({"plan", "m", "--config", config.string()});
  EXPECT_EQ(invocation.strategy_options.at("balanced").at("low_zero"), "true");
  EXPECT_EQ(invocation.strategy_options.at("sequential-offload").at("keep_resident"), "2");
}

TEST(Invocation, PluginDirsFromTheConfigAreResolvedBesideIt) {
  TempDir dir;
  const auto config = dir.write("sub/c.ini", "plugin_dirs = plugins:/opt/abs\n");
  const auto invocation = parse({"plugins", "--config", config.string()});
  ASSERT_EQ(invocation.config_plugin_dirs.size(), 2u);
  EXPECT_EQ(invocation.config_plugin_dirs[0], (dir.path() / "sub" / "plugins").string());
  EXPECT_EQ(invocation.config_plugin_dirs[1], "/opt/abs");
}

TEST(Invocation, PluginPathFromTheEnvironmentIsItsOwnTier) {
  const auto invocation =
      parse({"plugins", "--plugin-dir", "/a", "--plugin-dir", "/b"}, {{"VRAMGUARD_PLUGIN_PATH", "/c:/d"}});
  EXPECT_EQ(invocation.list("plugin-dir"), (std::vector<std::string>{"/a", "/b"}));
  EXPECT_EQ(invocation.env_plugin_path, "/c:/d");
}

TEST(Invocation, GlobalOptionsMayComeBeforeTheCommand) {
  const auto invocation = parse({"--log-level", "debug", "plan", "m"});
  EXPECT_EQ(invocation.command, "plan");
  EXPECT_EQ(invocation.text("log-level"), "debug");
}

TEST(Invocation, UnknownCommandSuggestsTheNearest) {
  try {
    parse({"plna", "m"});
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown command 'plna' (did you mean 'plan'?)"), std::string::npos)
        << e.what();
    EXPECT_EQ(e.exit_code(), ExitCode::bad_input);
  }
}

TEST(Invocation, UnknownOptionSuggestsTheNearest) {
  try {
    parse({"plan", "m", "--stratgy", "auto"});
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean '--strategy'?"), std::string::npos) << e.what();
  }
}

TEST(Invocation, UnknownConfigKeyNamesTheFileAndTheNearestKey) {
  TempDir dir;
  const auto config = dir.write("c.ini", "log_levle = debug\n");
  try {
    parse({"plan", "m", "--config", config.string()});
    FAIL();
  } catch (const InputError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(config.string()), std::string::npos) << message;
    EXPECT_NE(message.find("did you mean 'log_level'?"), std::string::npos) << message;
  }
}

TEST(Invocation, AnUnknownEnvironmentVariableIsAWarningNotAFailure) {
  // Another tool's variable may share the prefix: every command must still run, help included.
  const auto invocation = parse({"plan", "m"}, {{"VRAMGUARD_STRATEGI", "auto"}, {"VRAMGUARD_", "x"}});
  ASSERT_EQ(invocation.warnings.size(), 2u);
  bool suggests = false;
  for (const auto& w : invocation.warnings)
    suggests = suggests || w.find("did you mean 'VRAMGUARD_STRATEGY'?") != std::string::npos;
  EXPECT_TRUE(suggests) << invocation.warnings[0] << " / " << invocation.warnings[1];
  EXPECT_NO_THROW(parse({"plan", "--help"}, {{"VRAMGUARD_", "x"}}));
}

TEST(Invocation, MissingConfigFileIsAnInputError) {
  EXPECT_THROW(parse({"plan", "m", "--config", "/nonexistent/vramguard.ini"}), InputError);
}

TEST(Invocation, BadValueIsAUsageError) {
  EXPECT_THROW(parse({"plan", "m", "--tokens", "many"}), UsageError);
  EXPECT_THROW(parse({"plan", "m", "extra-argument"}), UsageError);
}

TEST(Invocation, ConfigKeysForOtherCommandsAreIgnored) {
  TempDir dir;
  const auto config = dir.write("c.ini", "strategy = balanced\n");
  const auto invocation = parse({"plugins", "--config", config.string()});
  EXPECT_EQ(invocation.values.count("strategy"), 0u);
}

TEST(Invocation, SwitchesTakeTrueOrFalseFromEnvironmentAndConfig) {
  TempDir dir;
  const auto config = dir.write("c.ini", "json = true\n");
  EXPECT_TRUE(parse({"plan", "m", "--config", config.string()}).flag("json"));
  EXPECT_FALSE(parse({"plan", "m", "--config", config.string()}, {{"VRAMGUARD_JSON", "false"}}).flag("json"));
  EXPECT_TRUE(parse({"plan", "m"}, {{"VRAMGUARD_JSON", "1"}}).flag("json"));
  EXPECT_THROW(parse({"plan", "m"}, {{"VRAMGUARD_JSON", "maybe"}}), UsageError);
}

TEST(Invocation, ASwitchDoesNotSwallowTheNextArgument) {
  const auto invocation = parse({"plan", "--json", "model-dir"});
  EXPECT_TRUE(invocation.flag("json"));
  EXPECT_EQ(invocation.text("model"), "model-dir");
}

TEST(Invocation, ConsentAndCommandsComeFromTheCommandLineOnly) {
  // VRAMGUARD_YES=1 in a profile, or yes = true in a config, once made fix stop processes unasked.
  EXPECT_TRUE(parse({"fix", "m", "--terminate-own", "--yes"}).flag("yes"));
  for (const char* variable : {"VRAMGUARD_YES", "VRAMGUARD_TERMINATE_OWN", "VRAMGUARD_ON_ALERT"}) {
    SCOPED_TRACE(variable);
    try {
      parse({"fix", "m"}, {{variable, "1"}});
      ADD_FAILURE() << "accepted from the environment";
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find(variable), std::string::npos) << e.what();
    }
  }
  TempDir dir;
  for (const char* line : {"yes = true\n", "terminate_own = true\n", "on_alert = rm -rf ~\n"}) {
    SCOPED_TRACE(line);
    const auto config = dir.write("c.ini", line);
    EXPECT_THROW(parse({"fix", "m", "--config", config.string()}), InputError);
  }
  // Another command's run is not refused for them: they mean nothing to it.
  EXPECT_NO_THROW(parse({"plan", "m"}, {{"VRAMGUARD_YES", "1"}}));
}

TEST(Invocation, AConfigThatCannotBeReadIsAnErrorNotAnEmptyConfig) {
  // /proc/self/mem is a "regular" file the size of nothing whose reading fails: it once read as empty.
  try {
    parse({"plan", "m"}, {{"VRAMGUARD_CONFIG", "/proc/self/mem"}});
    ADD_FAILURE() << "read as a config";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("/proc/self/mem"), std::string::npos) << e.what();
  }
}
