// The CLI as a user meets it: version, help, exit codes, and suggestions for typos.
#include <gtest/gtest.h>

#include "support/run_process.hpp"
#include "vramguard/plugin_api.hpp"

using vramguard::testing::run_vramguard;

TEST(Cli, VersionNamesThePluginApiAndLibtorch) {
  const auto result = run_vramguard("--version");
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_NE(result.out.find("vramguard "), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("plugin API " + std::to_string(vramguard::kPluginApiVersion)), std::string::npos)
      << result.out;
  EXPECT_NE(result.out.find("libtorch"), std::string::npos) << result.out;
}

TEST(Cli, HelpListsCommandsAndExitCodes) {
  const auto result = run_vramguard("help");
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_NE(result.out.find("plugins"), std::string::npos);
  EXPECT_NE(result.out.find("Exit codes"), std::string::npos);
  EXPECT_NE(result.out.find("--log-level"), std::string::npos);
}

TEST(Cli, HelpForOneCommandShowsItsUsage) {
  const auto result = run_vramguard("help plugins");
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_NE(result.out.find("Usage: vramguard plugins"), std::string::npos) << result.out;
  EXPECT_EQ(run_vramguard("plugins --help").out, result.out);
}

TEST(Cli, NoArgumentsIsBadUsage) {
  const auto result = run_vramguard("");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("Usage"), std::string::npos);
}

TEST(Cli, UnknownCommandExitsTwoWithSuggestion) {
  const auto result = run_vramguard("plugin");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("unknown command 'plugin' (did you mean 'plugins'?)"), std::string::npos) << result.err;
}

TEST(Cli, UnknownOptionExitsTwoWithSuggestion) {
  const auto result = run_vramguard("plugins --jsn");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("did you mean '--json'?"), std::string::npos) << result.err;
}

TEST(Cli, BadLogLevelFromTheEnvironmentIsBadUsage) {
  const auto result = run_vramguard("plugins", "VRAMGUARD_LOG_LEVEL=loud");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("loud"), std::string::npos) << result.err;
}

TEST(Cli, TheBuiltInPluginDirectoryIsBesideTheBinary) {
  const auto result = run_vramguard("plugins --json --log-level debug");
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.err.find("lib/vramguard/plugins"), std::string::npos) << result.err;
}
