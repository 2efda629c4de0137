// Discovery: good plugins register; each kind of bad plugin gives its documented error, registers
// nothing, and never stops the host.
#include <sys/stat.h>

#include <gtest/gtest.h>

#include "core/errors.hpp"
#include "plugins/plugin_registry.hpp"
#include "support/run_process.hpp"
#include "support/temp_dir.hpp"
#include "vramguard/strategy.hpp"

using namespace vramguard;
using vramguard::testing::TempDir;
namespace fs = std::filesystem;

namespace {

fs::path built_plugin(const std::string& target) { return fs::path(TEST_PLUGIN_DIR) / ("lib" + target + ".so"); }

// A directory holding copies of the named test plugins (under the given file names).
fs::path plugin_dir(const TempDir& tmp, const std::string& sub,
                    const std::vector<std::pair<std::string, std::string>>& target_to_file) {
  const fs::path dir = tmp / sub;
  fs::create_directories(dir);
  for (const auto& [target, file] : target_to_file) fs::copy_file(built_plugin(target), dir / file);
  return dir;
}

PluginRegistry discover(const std::vector<fs::path>& dirs, DiscoveryOptions options = {}) {
  std::vector<PluginSearchDir> path;
  for (const auto& dir : dirs) path.push_back({dir, "--plugin-dir"});
  options.host_torch_major = 1;
  options.host_torch_minor = 13;
  return PluginRegistry::discover(path, options);
}

const PluginFailure& only_failure(const PluginRegistry& registry) {
  if (registry.failures().size() != 1u) throw std::runtime_error("expected exactly one refused plugin");
  return registry.failures().front();
}

}  // namespace

TEST(PluginDiscovery, AGoodPluginIsListedWithItsDescriptor) {
  TempDir tmp;
  const auto dir = plugin_dir(tmp, "p", {{"test_plugin_good", "libgood.so"}});
  const auto registry = discover({dir});
  ASSERT_EQ(registry.plugins().size(), 1u);
  const auto& plugin = registry.plugins().front();
  EXPECT_EQ(plugin.name, "test-good");
  EXPECT_EQ(plugin.version, "1.2.3");
  EXPECT_EQ(plugin.api_version, 1);
  EXPECT_EQ(plugin.file, dir / "libgood.so");
  EXPECT_TRUE(registry.failures().empty());
}

TEST(PluginDiscovery, AGoodPluginsStrategyRunsAndOutlivesTheRegistry) {
  TempDir tmp;
  const auto dir = plugin_dir(tmp, "p", {{"test_plugin_good", "libgood.so"}});
  auto instance = discover({dir}).create("test-good");  // the registry is gone after this line
  ModelGraph model;
  model.components.push_back({"model", "generic", {Unit{"layers.0"}, Unit{"layers.1"}}});
  DeviceBudget budget;
  Workload workload;
  StrategyOptions options;
  const Placement placement = instance.strategy().plan({model, budget, workload, options});
  ASSERT_EQ(placement.units.size(), 2u);
  EXPECT_EQ(placement.units[1].unit, "layers.1");
  EXPECT_EQ(placement.units[1].storage, "cuda:0");
}

TEST(PluginDiscovery, ApiVersionMismatchIsRefusedWithBothNumbers) {
  TempDir tmp;
  const auto dir = plugin_dir(tmp, "p", {{"test_plugin_api_mismatch", "libfuture.so"}, {"test_plugin_good", "libgood.so"}});
  const auto registry = discover({dir});
  EXPECT_EQ(registry.names(), std::vector<std::string>{"test-good"});
  const auto& failure = only_failure(registry);
  EXPECT_EQ(failure.problem, PluginProblem::api_mismatch);
  EXPECT_EQ(failure.file, dir / "libfuture.so");
  EXPECT_NE(failure.message.find("version 42"), std::string::npos) << failure.message;
  EXPECT_NE(failure.message.find("version 1"), std::string::npos) << failure.message;
}

TEST(PluginDiscovery, LibtorchMismatchIsRefusedWithBothVersions) {
  TempDir tmp;
  const auto dir = plugin_dir(tmp, "p", {{"test_plugin_torch_mismatch", "libtorchy.so"}});
  const auto registry = discover({dir});
  EXPECT_TRUE(registry.plugins().empty());
  const auto& failure = only_failure(registry);
  EXPECT_EQ(failure.problem, PluginProblem::torch_mismatch);
  EXPECT_NE(failure.message.find("99.7"), std::string::npos) << failure.message;
  EXPECT_NE(failure.message.find("1.13"), std::string::npos) << failure.message;
}

TEST(PluginDiscovery, ALibraryWithoutDescriptorIsNotAPlugin) {
  TempDir tmp;
  const auto dir = plugin_dir(tmp, "p", {{"test_plugin_no_descriptor", "libplain.so"}});
  const auto registry = discover({dir});
  const auto& failure = only_failure(registry);
  EXPECT_EQ(failure.problem, PluginProblem::no_descriptor);
  EXPECT_NE(failure.message.find("VRAMGUARD_REGISTER_STRATEGY"), std::string::npos) << failure.message;
}

TEST(PluginDiscovery, AThrowingFactoryIsReportedWithItsMessage) {
  TempDir tmp;
  const auto dir = plugin_dir(tmp, "p", {{"test_plugin_throwing", "libfragile.so"}, {"test_plugin_good", "libgood.so"}});
  const auto registry = discover({dir});
  EXPECT_EQ(registry.names(), std::vector<std::string>{"test-good"});
  const auto& failure = only_failure(registry);
  EXPECT_EQ(failure.problem, PluginProblem::factory_failed);
  EXPECT_NE(failure.message.find("missing calibration table"), std::string::npos) << failure.message;
}

TEST(PluginDiscovery, ANonLibraryNamedSoIsRefused) {
  TempDir tmp;
  tmp.write("p/libfake.so", "#!/bin/sh\necho I am not a library\n");
  const auto registry = discover({tmp / "p"});
  const auto& failure = only_failure(registry);
  EXPECT_EQ(failure.problem, PluginProblem::not_a_library);
  EXPECT_EQ(failure.file, tmp / "p" / "libfake.so");
}

TEST(PluginDiscovery, DuplicateNamesRefuseBothAndNameBothFiles) {
  TempDir tmp;
  const auto first = plugin_dir(tmp, "first", {{"test_plugin_good", "liba.so"}});
  const auto second = plugin_dir(tmp, "second", {{"test_plugin_good_copy", "libb.so"}});
  const auto registry = discover({first, second});
  EXPECT_TRUE(registry.plugins().empty());
  ASSERT_EQ(registry.failures().size(), 2u);
  for (const auto& failure : registry.failures()) {
    EXPECT_EQ(failure.problem, PluginProblem::duplicate_name);
    EXPECT_NE(failure.message.find((first / "liba.so").string()), std::string::npos) << failure.message;
    EXPECT_NE(failure.message.find((second / "libb.so").string()), std::string::npos) << failure.message;
  }
}

TEST(PluginDiscovery, DuplicateNamesWithOverrideUseTheFirstFound) {
  TempDir tmp;
  const auto first = plugin_dir(tmp, "first", {{"test_plugin_good", "liba.so"}});
  const auto second = plugin_dir(tmp, "second", {{"test_plugin_good_copy", "libb.so"}});
  DiscoveryOptions options;
  options.allow_duplicates = true;
  const auto registry = discover({second, first}, options);
  ASSERT_EQ(registry.plugins().size(), 1u);
  EXPECT_EQ(registry.plugins().front().file, second / "libb.so");
  ASSERT_EQ(registry.failures().size(), 1u);
  EXPECT_EQ(registry.failures().front().file, first / "liba.so");
}

TEST(PluginDiscovery, AWorldWritablePluginIsRefusedUnlessAllowed) {
  TempDir tmp;
  const auto dir = plugin_dir(tmp, "p", {{"test_plugin_good", "libgood.so"}});
  fs::permissions(dir / "libgood.so", fs::perms::others_write, fs::perm_options::add);
  const auto refused = discover({dir});
  EXPECT_TRUE(refused.plugins().empty());
  EXPECT_EQ(only_failure(refused).problem, PluginProblem::insecure);
  EXPECT_NE(only_failure(refused).message.find("--allow-insecure-plugins"), std::string::npos);

  DiscoveryOptions options;
  options.allow_insecure = true;
  EXPECT_EQ(discover({dir}, options).names(), std::vector<std::string>{"test-good"});
}

TEST(PluginDiscovery, AWorldWritableDirectoryIsRefusedToo) {
  TempDir tmp;
  const auto dir = plugin_dir(tmp, "p", {{"test_plugin_good", "libgood.so"}});
  fs::permissions(dir, fs::perms::others_write, fs::perm_options::add);
  const auto registry = discover({dir});
  EXPECT_EQ(only_failure(registry).problem, PluginProblem::insecure);
}

TEST(PluginDiscovery, SearchOrderDecidesWhichDuplicateIsFirst) {
  TempDir tmp;
  const auto cli = plugin_dir(tmp, "cli", {{"test_plugin_good", "libgood.so"}});
  const auto env = plugin_dir(tmp, "env", {{"test_plugin_good_copy", "libgood.so"}});
  const auto cfg = plugin_dir(tmp, "cfg", {{"test_plugin_throwing", "libt.so"}});
  const auto path = plugin_search_path({cli.string()}, env.string() + ":", {cfg.string()}, tmp / "builtin");
  ASSERT_EQ(path.size(), 4u);
  EXPECT_EQ(path[0].origin, "--plugin-dir");
  EXPECT_EQ(path[1].origin, "VRAMGUARD_PLUGIN_PATH");
  EXPECT_EQ(path[2].origin, "config plugin_dirs");
  EXPECT_EQ(path[3].origin, "built-in");
  DiscoveryOptions options;
  options.allow_duplicates = true;
  const auto registry = PluginRegistry::discover(path, options);
  ASSERT_EQ(registry.plugins().size(), 1u);
  EXPECT_EQ(registry.plugins().front().file, cli / "libgood.so");
}

TEST(PluginDiscovery, UnknownStrategyNamesTheNearestAndTheRefused) {
  TempDir tmp;
  const auto dir = plugin_dir(tmp, "p", {{"test_plugin_good", "libgood.so"}, {"test_plugin_throwing", "libt.so"}});
  const auto registry = discover({dir});
  try {
    registry.create("test-goood");
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean 'test-good'?"), std::string::npos) << e.what();
    EXPECT_NE(e.hint().find("libt.so"), std::string::npos) << e.hint();
  }
}

TEST(PluginDiscovery, TheCliListsGoodAndRefusedPluginsAndExitsZero) {
  TempDir tmp;
  const auto dir = plugin_dir(tmp, "p", {{"test_plugin_good", "libgood.so"},
                                         {"test_plugin_api_mismatch", "libfuture.so"},
                                         {"test_plugin_throwing", "libt.so"},
                                         {"test_plugin_no_descriptor", "libplain.so"}});
  tmp.write("p/libfake.so", "not a library");
  const auto result = vramguard::testing::run_vramguard(
      "plugins --json --plugin-dir " + vramguard::testing::shell_quote(dir.string()));
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("\"test-good\""), std::string::npos) << result.out;
  for (const char* problem : {"api_mismatch", "factory_failed", "no_descriptor", "not_a_library"})
    EXPECT_NE(result.out.find(problem), std::string::npos) << problem << " missing in " << result.out;
}
