// Discovery: good plugins register; each kind of bad plugin gives its documented error, registers
// nothing, and never stops the host.
#include <sys/stat.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/errors.hpp"
#include "core/stop_signal.hpp"
#include "plugins/elf_symbols.hpp"
#include "plugins/plugin_registry.hpp"
#include "support/run_process.hpp"
#include "support/temp_dir.hpp"
#include "vramguard/plugin_api.hpp"
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
  return PluginRegistry::discover(path, options);
}

Unit named_unit(const std::string& name) {
  Unit unit;
  unit.name = name;
  return unit;
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
  EXPECT_EQ(plugin.api_version, kPluginApiVersion);
  EXPECT_EQ(plugin.file, dir / "libgood.so");
  EXPECT_TRUE(registry.failures().empty());
  // The options it declares, for `plugins` and `help plan`.
  ASSERT_EQ(plugin.options.size(), 1u);
  EXPECT_EQ(plugin.options[0].key, "depth");
  EXPECT_EQ(plugin.options[0].values, "1-3");
}

TEST(PluginDiscovery, APluginWhoseOptionListThrowsIsRefusedAndTheOthersWork) {
  TempDir tmp;
  const auto dir =
      plugin_dir(tmp, "p", {{"test_plugin_good", "libgood.so"}, {"test_plugin_throwing_options", "libthrows.so"}});
  const auto registry = discover({dir});
  EXPECT_EQ(registry.names(), std::vector<std::string>{"test-good"});
  const auto& failure = only_failure(registry);
  EXPECT_EQ(failure.problem, PluginProblem::bad_descriptor);
  EXPECT_NE(failure.message.find("listing its options failed: options are not ready"), std::string::npos)
      << failure.message;
}

TEST(PluginDiscovery, PluginsAndHelpListTheOptionsEachStrategyDeclares) {
  auto result = vramguard::testing::run_vramguard("plugins --json");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  bool auto_prefetch = false;
  const auto doc = nlohmann::json::parse(result.out);
  for (const auto& plugin : doc["plugins"])
    for (const auto& option : plugin["options"])
      auto_prefetch = auto_prefetch || (plugin["name"] == "auto" && option["key"] == "prefetch");
  EXPECT_TRUE(auto_prefetch) << result.out;
  result = vramguard::testing::run_vramguard("help plan");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("Strategy options"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("keep_resident=N"), std::string::npos) << result.out;
}

TEST(PluginDiscovery, AGoodPluginsStrategyRunsAndOutlivesTheRegistry) {
  TempDir tmp;
  const auto dir = plugin_dir(tmp, "p", {{"test_plugin_good", "libgood.so"}});
  auto instance = discover({dir}).create("test-good");  // the registry is gone after this line
  ModelGraph model;
  model.components.push_back({"model", "generic", {named_unit("layers.0"), named_unit("layers.1")}});
  DeviceBudget budget;
  Workload workload;
  StrategyOptions options;
  const Placement placement = instance.plan({model, budget, workload, options});
  ASSERT_EQ(placement.units.size(), 2u);
  EXPECT_EQ(placement.units[1].unit, "layers.1");
  EXPECT_EQ(placement.units[1].storage, DeviceId::gpu(0));
  EXPECT_EQ(placement.strategy, "test-good");
}

TEST(PluginDiscovery, ApiVersionMismatchIsRefusedWithBothNumbers) {
  TempDir tmp;
  const auto dir =
      plugin_dir(tmp, "p", {{"test_plugin_api_mismatch", "libfuture.so"}, {"test_plugin_good", "libgood.so"}});
  const auto registry = discover({dir});
  EXPECT_EQ(registry.names(), std::vector<std::string>{"test-good"});
  const auto& failure = only_failure(registry);
  EXPECT_EQ(failure.problem, PluginProblem::api_mismatch);
  EXPECT_EQ(failure.file, dir / "libfuture.so");
  EXPECT_NE(failure.message.find("version " + std::to_string(kPluginApiVersion + 41)), std::string::npos)
      << failure.message;
  EXPECT_NE(failure.message.find("version " + std::to_string(kPluginApiVersion)), std::string::npos) << failure.message;
}

TEST(PluginDiscovery, ASdkLayoutMismatchIsRefusedWithoutCallingThePlugin) {
  TempDir tmp;
  const auto dir = plugin_dir(tmp, "p", {{"test_plugin_layout_mismatch", "liblayout.so"}});
  const auto registry = discover({dir});
  EXPECT_TRUE(registry.plugins().empty());
  const auto& failure = only_failure(registry);
  EXPECT_EQ(failure.problem, PluginProblem::layout_mismatch);
  EXPECT_NE(failure.message.find("layout"), std::string::npos) << failure.message;
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
  const auto dir =
      plugin_dir(tmp, "p", {{"test_plugin_throwing", "libfragile.so"}, {"test_plugin_good", "libgood.so"}});
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
    const fs::path other = failure.file == first / "liba.so" ? second / "libb.so" : first / "liba.so";
    EXPECT_NE(failure.message.find(other.string()), std::string::npos) << failure.message;
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
  const auto dir = plugin_dir(tmp, "p",
                              {{"test_plugin_good", "libgood.so"},
                               {"test_plugin_api_mismatch", "libfuture.so"},
                               {"test_plugin_throwing", "libt.so"},
                               {"test_plugin_no_descriptor", "libplain.so"}});
  tmp.write("p/libfake.so", "not a library");
  const auto result =
      vramguard::testing::run_vramguard("plugins --json --plugin-dir " + vramguard::testing::shell_quote(dir.string()));
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("\"test-good\""), std::string::npos) << result.out;
  for (const char* problem : {"api_mismatch", "factory_failed", "no_descriptor", "not_a_library"})
    EXPECT_NE(result.out.find(problem), std::string::npos) << problem << " missing in " << result.out;
}

// ---- The sealed boundary -------------------------------------------------------------------------

TEST(PluginBoundary, APlanThatThrowsAnIntBecomesAnErrorNamingThePlugin) {
  TempDir tmp;
  const auto dir = plugin_dir(tmp, "p", {{"test_plugin_throwing_plan", "libint.so"}});
  const auto instance = discover({dir}).create("test-throws-int");
  ModelGraph model;
  model.components.push_back({"model", "generic", {named_unit("layers.0")}});
  DeviceBudget budget;
  Workload workload;
  StrategyOptions options;
  for (const std::atomic<bool>* cancel : {static_cast<const std::atomic<bool>*>(nullptr), &stop_flag()}) {
    try {
      instance.plan({model, budget, workload, options}, cancel);
      FAIL() << "a plan that throws must not return";
    } catch (const PluginError& e) {
      EXPECT_NE(std::string(e.what()).find("test-throws-int"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("libint.so"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("not a std::exception"), std::string::npos) << e.what();
    }
  }
}

TEST(PluginBoundary, PlanAndLoadTreatAThrowingPluginAlikeAndLoadFallsBack) {
  TempDir tmp;
  const auto dir = plugin_dir(tmp, "p", {{"test_plugin_throwing_plan", "libint.so"}});
  const std::string model = vramguard::testing::shell_quote(tmp.path().string() + "/m");
  ASSERT_EQ(vramguard::testing::run_vramguard("synth --arch qwen2 --preset tiny --out " + model).exit_code, 0);
  const std::string common =
      model + " --simulate rtx4080 --cpu-memory 8GiB --plugin-dir " + vramguard::testing::shell_quote(dir.string());
  const auto plan = vramguard::testing::run_vramguard("plan " + common + " --strategy test-throws-int");
  EXPECT_EQ(plan.exit_code, 1) << plan.err;
  EXPECT_NE(plan.err.find("test-throws-int"), std::string::npos) << plan.err;
  const auto load =
      vramguard::testing::run_vramguard("load " + common + " --strategy test-throws-int --fallback auto --json");
  EXPECT_EQ(load.exit_code, 0) << load.err;
  EXPECT_NE(load.out.find("\"strategy\": \"auto\""), std::string::npos) << load.out;
  EXPECT_NE(load.out.find("not a std::exception"), std::string::npos) << load.out;
}

TEST(PluginBoundary, ABadStrategyOptionExitsTwoFromPlanAndLoadAndLoadStillReports) {
  TempDir tmp;
  const std::string model = vramguard::testing::shell_quote(tmp.path().string() + "/m");
  ASSERT_EQ(vramguard::testing::run_vramguard("synth --arch qwen2 --preset tiny --out " + model).exit_code, 0);
  const std::string common =
      model + " --simulate rtx4080 --cpu-memory 8GiB --strategy sequential-offload --option prefetch=abc";
  const auto plan = vramguard::testing::run_vramguard("plan " + common);
  EXPECT_EQ(plan.exit_code, 2) << plan.err;
  const std::string report = (tmp / "report.json").string();
  const auto load =
      vramguard::testing::run_vramguard("load " + common + " --report " + vramguard::testing::shell_quote(report));
  EXPECT_EQ(load.exit_code, 2) << load.err;
  EXPECT_NE(load.err.find("prefetch"), std::string::npos) << load.err;
  EXPECT_TRUE(fs::exists(report));
}

TEST(PluginBoundary, CtrlCStopsASlowPluginPlanAtOnce) {
  TempDir tmp;
  const auto dir = plugin_dir(tmp, "p", {{"test_plugin_slow_plan", "libslow.so"}});
  const std::string model = vramguard::testing::shell_quote(tmp.path().string() + "/m");
  ASSERT_EQ(vramguard::testing::run_vramguard("synth --arch qwen2 --preset tiny --out " + model).exit_code, 0);
  const std::string report = (tmp / "report.json").string();
  const auto started = std::chrono::steady_clock::now();
  // SIGINT after one second, while the plugin sleeps for thirty.
  const auto result = vramguard::testing::run_vramguard(
      "load " + model + " --simulate rtx4080 --cpu-memory 8GiB --strategy test-slow --report " +
          vramguard::testing::shell_quote(report) + " --plugin-dir " + vramguard::testing::shell_quote(dir.string()),
      "", "timeout --preserve-status -s INT 1");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  EXPECT_EQ(result.exit_code, 130) << result.err;
  EXPECT_LT(seconds, 10.0);
  EXPECT_TRUE(fs::exists(report)) << result.err;
}

TEST(PluginBoundary, APluginExportsItsDescriptorAndNothingElse) {
  const auto result = vramguard::testing::run_process(
      "nm -D --defined-only " + vramguard::testing::shell_quote(built_plugin("test_plugin_good").string()));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  std::vector<std::string> symbols;
  std::istringstream lines(result.out);
  for (std::string line; std::getline(lines, line);)
    if (!line.empty()) symbols.push_back(line.substr(line.rfind(' ') + 1));
  EXPECT_EQ(symbols, std::vector<std::string>{"vramguard_plugin"}) << result.out;
}

TEST(PluginBoundary, ManyPluginsOfOneNameMakeOneShortWarning) {
  TempDir tmp;
  std::vector<std::pair<std::string, std::string>> copies;
  for (int i = 0; i < 60; ++i) copies.push_back({"test_plugin_good", "libcopy" + std::to_string(i) + ".so"});
  const auto dir = plugin_dir(tmp, "p", copies);
  const auto result =
      vramguard::testing::run_vramguard("plugins --json --plugin-dir " + vramguard::testing::shell_quote(dir.string()));
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_LT(result.err.size(), 2000u) << result.err;
  EXPECT_LT(result.out.size(), 60u * 800u);
  EXPECT_NE(result.err.find("60 files"), std::string::npos) << result.err;
}

// ---- Who could have written it -----------------------------------------------------------------

TEST(PluginSecurity, AGroupWritablePluginOrFolderIsRefused) {
  TempDir tmp;
  const auto dir = plugin_dir(tmp, "p", {{"test_plugin_good", "libgood.so"}});
  fs::permissions(dir / "libgood.so", fs::perms::group_write, fs::perm_options::add);
  EXPECT_EQ(only_failure(discover({dir})).problem, PluginProblem::insecure);
  fs::permissions(dir / "libgood.so", fs::perms::group_write, fs::perm_options::remove);
  fs::permissions(dir, fs::perms::group_write, fs::perm_options::add);
  const auto registry = discover({dir});
  EXPECT_EQ(only_failure(registry).problem, PluginProblem::insecure);
  EXPECT_NE(only_failure(registry).message.find("its group"), std::string::npos) << only_failure(registry).message;
}

TEST(PluginSecurity, AWritableFolderHigherUpIsRefused) {
  TempDir tmp;
  const auto dir = plugin_dir(tmp, "a/b/c", {{"test_plugin_good", "libgood.so"}});
  fs::permissions(tmp / "a", fs::perms::others_write, fs::perm_options::add);
  const auto registry = discover({dir});
  EXPECT_EQ(only_failure(registry).problem, PluginProblem::insecure);
  EXPECT_NE(only_failure(registry).message.find((tmp / "a").string()), std::string::npos)
      << only_failure(registry).message;
}

TEST(PluginSecurity, AStickySharedFolderIsFineWhenTheEntryInItIsOurs) {
  TempDir tmp;
  const auto dir = plugin_dir(tmp, "shared/mine", {{"test_plugin_good", "libgood.so"}});
  fs::permissions(tmp / "shared", fs::perms::all | fs::perms::sticky_bit);
  EXPECT_EQ(discover({dir}).names(), std::vector<std::string>{"test-good"});
  fs::permissions(tmp / "shared", fs::perms::all);  // no sticky bit: anyone may replace "mine"
  EXPECT_EQ(only_failure(discover({dir})).problem, PluginProblem::insecure);
}

TEST(PluginSecurity, ALinkIsJudgedByWhereItLeads) {
  TempDir tmp;
  const auto real = plugin_dir(tmp, "real", {{"test_plugin_good", "libgood.so"}});
  fs::create_directories(tmp / "links");
  fs::create_symlink(real / "libgood.so", tmp / "links" / "libgood.so");
  EXPECT_EQ(discover({tmp / "links"}).names(), std::vector<std::string>{"test-good"});
  fs::permissions(real, fs::perms::others_write, fs::perm_options::add);
  const auto registry = discover({tmp / "links"});
  EXPECT_EQ(only_failure(registry).problem, PluginProblem::insecure);
  EXPECT_NE(only_failure(registry).message.find(real.string()), std::string::npos) << only_failure(registry).message;
}

// ---- Damaged files -------------------------------------------------------------------------------

TEST(PluginFiles, ASectionNameOutsideItsTableIsRefusedNotACrash) {
  TempDir tmp;
  const auto dir = plugin_dir(tmp, "p", {{"test_plugin_good", "libgood.so"}});
  std::string bytes;
  {
    std::ifstream in(dir / "libgood.so", std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  // Every section header's sh_name = 0xfffffff0.
  std::uint64_t shoff = 0;
  std::memcpy(&shoff, bytes.data() + 0x28, 8);
  std::uint16_t shnum = 0;
  std::memcpy(&shnum, bytes.data() + 0x3C, 2);
  for (std::uint16_t i = 0; i < shnum; ++i) {
    const std::uint32_t bad = 0xfffffff0;
    std::memcpy(bytes.data() + shoff + i * 64ULL, &bad, 4);
  }
  std::ofstream(dir / "libgood.so", std::ios::binary | std::ios::trunc) << bytes;
  const auto registry = discover({dir});
  EXPECT_EQ(only_failure(registry).problem, PluginProblem::not_a_library);
  const auto listing =
      vramguard::testing::run_vramguard("plugins --plugin-dir " + vramguard::testing::shell_quote(dir.string()));
  EXPECT_EQ(listing.exit_code, 0) << listing.err;
}

TEST(PluginFiles, MutatedCopiesOfAPluginNeverCrashTheSymbolReader) {
  std::string image;
  {
    std::ifstream in(built_plugin("test_plugin_good"), std::ios::binary);
    image.assign(std::istreambuf_iterator<char>(in), {});
  }
  ASSERT_FALSE(elf_section_symbols(image, kPluginSymbolSection).empty());
  std::mt19937_64 rng(280);
  int refused = 0;
  for (int round = 0; round < 2000; ++round) {
    std::string mutated = image;
    // Mutations aimed where the reader looks: the ELF header, the section headers, and anywhere.
    std::uint64_t shoff = 0;
    std::memcpy(&shoff, image.data() + 0x28, 8);
    for (int k = 0; k < 4; ++k) {
      const int where = static_cast<int>(rng() % 3);
      const std::size_t at = where == 0   ? rng() % 64
                             : where == 1 ? shoff + rng() % (image.size() - shoff)
                                          : rng() % image.size();
      mutated[at] = static_cast<char>(rng());
    }
    try {
      (void)elf_section_symbols(mutated, kPluginSymbolSection);
    } catch (const ElfError&) {
      ++refused;
    }
  }
  EXPECT_GT(refused, 100);  // the mutations reach the checks
}
