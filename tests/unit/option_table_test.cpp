// One declaration per option (vramguard/load_options.def): the CLI, config keys, VRAMGUARD_* variables,
// the runtime API's typed fields and Python's keywords all come from it, read every value through one
// parser, and say where a bad value came from.
#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "config/invocation.hpp"
#include "config/option_table.hpp"
#include "core/errors.hpp"
#include "request/cli_options.hpp"
#include "support/temp_dir.hpp"

using namespace vramguard;
using vramguard::testing::TempDir;

namespace {

CommandSpec every_option_spec() {
  return {"load", "load a model", "vramguard load MODEL", "", [](CommandOptions& own) {
            declare_planning_options(own);
            declare_guard_options(own);
            declare_options(own.options, OptionGroup::load);
            declare_options(own.options, OptionGroup::serve);
            own.options.add_options()("strategy", po::value<std::string>(), "the first strategy");
          }};
}

// A value each kind accepts, and the typed value's text once read.
std::pair<std::string, std::string> sample(const OptionDeclaration& option) {
  switch (option.kind) {
    case OptionKind::flag: return {"true", "true"};
    case OptionKind::count: return {std::to_string(option.min + 1), std::to_string(option.min + 1)};
    case OptionKind::size: return {"1.5GB", "1500000000"};
    case OptionKind::device_sizes: return {"0=12GB,cpu=1KiB", "0=12000000000,cpu=1024"};
    case OptionKind::size_for_devices: return {"4GB", "4000000000"};
    case OptionKind::dtype: return {"float16", "fp16"};
    case OptionKind::strategy_settings: return {"prefetch=2", "prefetch=2"};
    case OptionKind::typed_list:
      if (option.name == "lora") return {"lightning.safetensors:0.5", "lightning.safetensors:0.5"};
      if (option.name == "weight-dtype") return {"transformer=float8_e4m3fn", "transformer=fp8"};
      if (option.name == "fp8-keep") return {"img_mod", "img_mod"};
      if (option.name == "gpus") return {"cuda:1", "1"};
      return {"transformer=fp8.safetensors", "transformer=fp8.safetensors"};
    case OptionKind::typed_value:
      if (option.name == "fp8-compute") return {"on", "on"};
      return {"per-row", "row"};
    case OptionKind::text:
    case OptionKind::text_list: return {"x", "x"};
  }
  return {"x", "x"};
}

// What LoadOptions holds for `name`, as text (option_settings' view of it).
std::vector<std::string> held(const LoadOptions& options, std::string_view name) {
  std::vector<std::string> values;
  for (const auto& [setting, value] : option_settings(options))
    if (setting == name) values.push_back(value);
  return values;
}

}  // namespace

TEST(OptionTable, EveryDeclarationIsACliOptionAConfigKeyAnEnvironmentVariableAndATypedField) {
  const auto& table = option_declarations();
  std::set<std::string> names, keywords;
  for (const auto& option : table) {
    SCOPED_TRACE(std::string(option.name));
    EXPECT_TRUE(names.insert(std::string(option.name)).second) << "declared twice";
    if (!option.keyword.empty()) {
      EXPECT_TRUE(keywords.insert(std::string(option.keyword)).second);
    }
    EXPECT_FALSE(option.help.empty());
    if (option.name == "config" || option.name == "plugin-dir") continue;  // these steer the reading itself
    const auto [text, typed] = sample(option);

    // The command line (a switch there takes no value).
    std::vector<std::string> args = {"load", "m", "--" + std::string(option.name)};
    if (option.kind != OptionKind::flag) args.push_back(text);
    const LoadOptions from_cli = load_options_from(parse_invocation(args, {every_option_spec()}, {}));
    EXPECT_EQ(held(from_cli, option.name), std::vector<std::string>{typed});
    if (option.kind == OptionKind::text_list || option.kind == OptionKind::strategy_settings) continue;

    // A VRAMGUARD_* variable.
    const LoadOptions from_environment = load_options_from(
        parse_invocation({"load", "m"}, {every_option_spec()}, {{option.environment_variable(), text}}));
    EXPECT_EQ(held(from_environment, option.name), std::vector<std::string>{typed});

    // A config key.
    TempDir dir;
    const auto config = dir.write("c.ini", option.config_key() + " = " + text + "\n");
    const LoadOptions from_config =
        load_options_from(parse_invocation({"load", "m", "--config", config.string()}, {every_option_spec()}, {}));
    EXPECT_EQ(held(from_config, option.name), std::vector<std::string>{typed});

    // By name, as the runtime API hands its typed fields on: the same value again.
    const LoadOptions by_name = load_options_from(
        invocation_from_settings(every_option_spec(), {{"model", "m"}, {std::string(option.name), typed}}, {}));
    EXPECT_EQ(held(by_name, option.name), std::vector<std::string>{typed});
  }
}

TEST(OptionTable, TypedFieldsGoBackToTextTheReaderReadsAsTheSameValues) {
  LoadOptions options;
  options.max_memory = "0=12GB,cpu=64GiB";
  options.reserve = ByteSize(4'000'000'000ULL);
  options.headroom = "512MiB";
  options.dtype = DType::F16;
  options.tokens = 300;
  options.strategy_options = {{"prefetch", "2"}};
  options.simulate = "rtx4080";
  const LoadOptions again =
      load_options_from(invocation_from_settings(every_option_spec(), option_settings(options), {}));
  EXPECT_EQ(again.max_memory, options.max_memory);
  EXPECT_EQ(again.reserve, options.reserve);
  EXPECT_EQ(again.headroom, options.headroom);
  EXPECT_EQ(again.dtype, options.dtype);
  EXPECT_EQ(again.tokens, options.tokens);
  EXPECT_EQ(again.strategy_options, options.strategy_options);
  // A bad text is refused where it is assigned, not later.
  EXPECT_THROW(options.headroom = "lots", InvalidOptionValue);
  EXPECT_THROW(options.dtype = DType::F8_E4M3, InvalidOptionValue);
  EXPECT_THROW(options.max_memory = "0=12gb", InvalidOptionValue);
}

TEST(OptionTable, ABadValueIsNamedWhereItCameFrom) {
  TempDir dir;
  const auto config = dir.write("c.ini", "# the seed's card\nstrategy = balanced\n\nreserve = 4XB\n");
  const auto refusal = [&](const std::vector<std::string>& args, const Environment& environment = {}) {
    try {
      load_request_from(parse_invocation(args, {every_option_spec()}, environment));
    } catch (const UsageError& e) {
      return std::string(e.what()) + " | " + e.hint();
    }
    return std::string("accepted");
  };
  const std::string from_config = refusal({"load", "m", "--config", config.string()});
  EXPECT_NE(from_config.find("reserve (" + config.string() + ", line 4) '4XB' is not a size: unknown unit 'XB'"),
            std::string::npos)
      << from_config;
  EXPECT_NE(refusal({"load", "m"}, {{"VRAMGUARD_HEADROOM", "-1GB"}}).find("VRAMGUARD_HEADROOM '-1GB' is not a size"),
            std::string::npos);
  EXPECT_NE(refusal({"load", "m", "--headroom", "12gb"}).find("--headroom '12gb' is not a size"), std::string::npos);
  // The command line over the config: its value, and its name, are what count.
  EXPECT_NE(refusal({"load", "m", "--config", config.string(), "--reserve", "lots"}).find("--reserve 'lots'"),
            std::string::npos);
}

TEST(OptionTable, HelpShowsEachDeclarationOnceWithItsRange) {
  boost::program_options::options_description described;
  for (auto group : {OptionGroup::plugins, OptionGroup::model, OptionGroup::planning, OptionGroup::neighbours,
                     OptionGroup::guard, OptionGroup::faults, OptionGroup::load, OptionGroup::serve})
    declare_options(described, group);
  EXPECT_EQ(described.options().size(), option_declarations().size());
  std::ostringstream help;
  help << described;
  EXPECT_NE(help.str().find("(1-16)"), std::string::npos) << help.str();
}

TEST(OptionTable, ALoraTakesAnOptionalScaleAfterItsLastColonAndAConfigListsSeveral) {
  EXPECT_EQ(LoraFile("a.safetensors"), LoraFile("a.safetensors", 1.0));
  EXPECT_EQ(LoraFile("/models/a:b.safetensors:0.6"), LoraFile("/models/a:b.safetensors", 0.6));
  EXPECT_EQ(LoraFile("c:/x.safetensors"), LoraFile("c:/x.safetensors", 1.0))
      << "a ':' not before a number is the path's";
  EXPECT_THROW(LoraFile(":0.5"), InvalidOptionValue);
  EXPECT_THROW(LoraFile("a.safetensors:nan"), InvalidOptionValue);
  EXPECT_THROW(LoraFile("a.safetensors:1e9"), InvalidOptionValue);
  TempDir dir;
  const auto config = dir.path() / "c.ini";
  std::ofstream(config) << "lora = first.safetensors:0.6, second.safetensors\n";
  const LoadOptions options =
      load_options_from(parse_invocation({"load", "m", "--config", config.string()}, {every_option_spec()}, {}));
  EXPECT_EQ(options.lora, (LoraFiles{{"first.safetensors", 0.6}, {"second.safetensors", 1.0}}));
  try {
    load_options_from(parse_invocation({"load", "m", "--lora", "x.safetensors:inf"}, {every_option_spec()}, {}));
    ADD_FAILURE() << "an infinite scale was taken";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("--lora"), std::string::npos) << e.what();
  }
}
