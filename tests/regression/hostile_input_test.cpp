// Inputs that once crashed vramguard, read outside the model, hung, or were silently accepted: each now
// gets exit 2 (or 1) and a message that names it. One test per reproduced report.
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "devices/simulated_runtime.hpp"
#include "guard/guard_pipeline.hpp"
#include "load/loaded_model.hpp"
#include "model/model_inspector.hpp"
#include "support/run_process.hpp"
#include "support/safetensors_files.hpp"
#include "support/temp_dir.hpp"
#include "synth/checkpoint_writer.hpp"

using namespace vramguard;
using namespace vramguard::testing;
namespace fs = std::filesystem;

namespace {

constexpr std::uint64_t GiB = 1ULL << 30;
constexpr const char* kSecret = "SECRET-BYTES-0f9e";

fs::path tiny_model(const TempDir& tmp, const std::string& name = "m", SynthWriteOptions options = {}) {
  write_checkpoint(synthetic_architecture("qwen2", "tiny", false), tmp / name, options);
  return tmp / name;
}

// A file outside every model, whose bytes must never be printed.
fs::path secret_file(const TempDir& tmp) {
  return write_file(tmp / "outside" / "secret.txt", std::string(kSecret) + "\nmore\n");
}

void expect_usage_failure(const ProcessResult& result, const std::string& fragment) {
  EXPECT_EQ(result.exit_code, 2) << result.err;
  EXPECT_NE(result.err.find(fragment), std::string::npos) << result.err;
  EXPECT_EQ(result.err.find(kSecret), std::string::npos) << result.err;
  EXPECT_EQ(result.out.find(kSecret), std::string::npos) << result.out;
}

std::string sim() { return " --simulate rtx4080 --cpu-memory 8GiB"; }

}  // namespace

// ---- A checkpoint that changes under us ----------------------------------------------------------

TEST(Checkpoints, AFileThatShrankAfterInspectionIsRefusedCleanly) {
  TempDir tmp;
  SynthWriteOptions random;
  random.data = SynthData::random;
  const fs::path model = tiny_model(tmp, "m", random);
  const InspectedModel inspected = inspect_model(model.string(), {}, {});
  fs::resize_file(model / "model.safetensors", fs::file_size(model / "model.safetensors") / 2);
  SimulatedRuntime runtime("cuda:2GB", GiB, {}, /*keep_data=*/true);
  const PluginRegistry registry = PluginRegistry::discover({{BUILTIN_PLUGIN_DIR, "built-in"}}, {});
  GuardOptions options;
  options.strategy = "balanced";
  options.budget.headroom = 0;
  options.budget.reserve_all = 0;
  options.cpu_memory = GiB;
  GuardPipeline pipeline(runtime, registry, inspected, options);
  try {
    pipeline.run();
    FAIL() << "loaded a file that shrank";
  } catch (const GuardFailure& failure) {
    EXPECT_EQ(failure.exit_code(), ExitCode::bad_input);
    EXPECT_NE(std::string(failure.what()).find("changed since it was inspected"), std::string::npos) << failure.what();
  }
  EXPECT_EQ(runtime.live_bytes(), 0u);
}

TEST(Checkpoints, AFileShrinkingDuringLoadsNeverCrashes) {
  // The race that crashed 26 of 27 loads with SIGBUS: truncate the file while it is being read.
  TempDir tmp;
  SynthWriteOptions random;
  random.data = SynthData::random;
  random.dtype = DType::F32;  // converted on the way: the path that used to read the mapping
  const PluginRegistry registry = PluginRegistry::discover({{BUILTIN_PLUGIN_DIR, "built-in"}}, {});
  for (int round = 0; round < 12; ++round) {
    const fs::path model = tiny_model(tmp, std::string("m").append(std::to_string(round)), random);
    InspectOptions bf16;
    bf16.target_dtype = DType::BF16;
    const InspectedModel inspected = inspect_model(model.string(), {}, bf16);
    SimulatedRuntime runtime("cuda:2GB", GiB, {}, true);
    GuardOptions options;
    options.strategy = "sequential-offload";
    options.budget.headroom = 0;
    options.budget.reserve_all = 0;
    options.cpu_memory = GiB;
    options.verify_data = true;
    const fs::path file = model / "model.safetensors";
    // Even rounds: another thread truncates at a moment of its choosing (a race, either outcome is
    // fine). Odd rounds: the file shrinks after the second unit, for certain mid-load.
    std::atomic<bool> go{false};
    int units = 0;
    std::thread shrink([&] {
      while (!go) std::this_thread::yield();
      if (round % 2 == 0) {
        std::this_thread::sleep_for(std::chrono::microseconds(50 * round));
        ::truncate(file.c_str(), static_cast<off_t>(fs::file_size(file) / 3));
      }
    });
    options.progress = [&](std::uint64_t, std::uint64_t) {
      go = true;
      if (round % 2 == 1 && ++units == 2) ::truncate(file.c_str(), static_cast<off_t>(fs::file_size(file) / 3));
    };
    GuardPipeline pipeline(runtime, registry, inspected, options);
    bool refused = false;
    try {
      GuardResult result = pipeline.run();
      pipeline.unload(result);
    } catch (const GuardFailure& failure) {
      EXPECT_EQ(failure.exit_code(), ExitCode::bad_input) << failure.what();
      refused = true;
    }
    go = true;
    shrink.join();
    if (round % 2 == 1) {
      EXPECT_TRUE(refused) << "round " << round << ": a load that lost half its file succeeded";
    }
    EXPECT_EQ(runtime.live_bytes(), 0u);
  }
}

// ---- Paths a model file names --------------------------------------------------------------------

TEST(ModelPaths, AnIndexNamingAFileOutsideTheModelIsRefused) {
  TempDir tmp;
  const fs::path secret = secret_file(tmp);
  const fs::path model = tiny_model(tmp);
  for (const std::string& shard :
       {secret.string(), std::string("../outside/secret.txt"), std::string("sub/../../outside/secret.txt")}) {
    nlohmann::json index{{"weight_map", {{"model.embed_tokens.weight", shard}}}};
    write_file(model / "model.safetensors.index.json", index.dump());
    expect_usage_failure(run_vramguard("inspect " + shell_quote(model.string())), "not a file name beside the index");
  }
}

TEST(ModelPaths, AModelIndexKeyOutsideThePipelineIsRefused) {
  TempDir tmp;
  secret_file(tmp);
  fs::create_directories(tmp / "pipe");
  write_file(tmp / "pipe" / "model_index.json", R"({"_class_name":"X","../outside":["diffusers","Y"]})");
  expect_usage_failure(run_vramguard("inspect " + shell_quote((tmp / "pipe").string())), "not a folder name");
}

TEST(ModelPaths, AHubRefThatClimbsOutIsRefused) {
  TempDir tmp;
  secret_file(tmp);
  const fs::path repo = tmp / "hub" / "models--acme--lm";
  fs::create_directories(repo / "snapshots");
  write_file(repo / "refs" / "main", "../../..\n");
  expect_usage_failure(run_vramguard("inspect acme/lm", "HF_HUB_CACHE=" + shell_quote((tmp / "hub").string())),
                       "does not hold a commit hash");
}

TEST(ModelPaths, ASnapshotLinkOutsideTheCacheRepoIsRefused) {
  TempDir tmp;
  const fs::path repo = tmp / "hub" / "models--acme--lm";
  const std::string commit = "0123456789abcdef0123456789abcdef01234567";
  const fs::path elsewhere = tiny_model(tmp, "elsewhere");
  fs::create_directories(repo / "snapshots" / commit);
  fs::create_symlink(elsewhere / "model.safetensors", repo / "snapshots" / commit / "model.safetensors");
  write_file(repo / "refs" / "main", commit);
  expect_usage_failure(run_vramguard("inspect acme/lm", "HF_HUB_CACHE=" + shell_quote((tmp / "hub").string())),
                       "lies outside");
}

TEST(ModelPaths, ANonCheckpointIsNeverQuoted) {
  TempDir tmp;
  const fs::path secret = secret_file(tmp);
  fs::copy_file(secret, tmp / "secret.safetensors");
  auto result = run_vramguard("inspect " + shell_quote((tmp / "secret.safetensors").string()));
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_EQ(result.err.find("SECRET"), std::string::npos) << result.err;
  write_file(tmp / "m" / "config.json", "SECRET-BYTES-0f9e not json");
  tiny_model(tmp, "m2");
  fs::copy_file(tmp / "m" / "config.json", tmp / "m2" / "config.json", fs::copy_options::overwrite_existing);
  result = run_vramguard("inspect " + shell_quote((tmp / "m2").string()));
  expect_usage_failure(result, "not valid JSON");
}

TEST(ModelPaths, VeryLongRepoIdsAreRefusedNotACrash) {
  for (std::size_t length : {5'000u, 20'000u, 50'000u}) {
    const std::string id = "org/" + std::string(length, 'a');
    const auto result = run_vramguard("inspect " + id);
    EXPECT_EQ(result.exit_code, 2) << length << ": " << result.err.substr(0, 300);
    EXPECT_LT(result.err.size(), 1000u) << "the message repeats the argument in full";
  }
}

TEST(ModelPaths, ASymlinkLoopIsAnInputError) {
  TempDir tmp;
  fs::create_symlink(tmp / "b", tmp / "a");
  fs::create_symlink(tmp / "a", tmp / "b");
  expect_usage_failure(run_vramguard("inspect " + shell_quote((tmp / "a").string())), "symbolic link");
}

TEST(ModelConfig, AValueOfTheWrongTypeNamesTheFileAndTheKey) {
  TempDir tmp;
  const fs::path model = tiny_model(tmp);
  std::ifstream in(model / "config.json");
  nlohmann::json config = nlohmann::json::parse(in);
  config["tie_word_embeddings"] = "yes";
  write_file(model / "config.json", config.dump());
  const auto result = run_vramguard("inspect " + shell_quote(model.string()));
  expect_usage_failure(result, "\"tie_word_embeddings\" must be true or false");
  EXPECT_NE(result.err.find("config.json"), std::string::npos) << result.err;
}

TEST(ModelConfig, OneDimensionalTensorsDoNotInflateTheHeadroom) {
  // 189 MB of 1-D tensors once gave a 103 GB activation estimate.
  TempDir tmp;
  std::string header = "{";
  std::uint64_t offset = 0;
  for (int i = 0; i < 4; ++i) {
    const std::uint64_t elements = 11'800'000;
    header += std::string(i ? "," : "") + "\"blocks." + std::to_string(i) + ".w\":{\"dtype\":\"F32\",\"shape\":[" +
              std::to_string(elements) + "],\"data_offsets\":[" + std::to_string(offset) + "," +
              std::to_string(offset + elements * 4) + "]}";
    offset += elements * 4;
  }
  header += "}";
  std::string bytes = safetensors_bytes(header, 0);
  write_file(tmp / "flat.safetensors", bytes);
  fs::resize_file(tmp / "flat.safetensors", bytes.size() + offset);
  const auto model = inspect_model((tmp / "flat.safetensors").string(), {}, {});
  const Workload workload;
  EXPECT_LT(activation_headroom(model.graph.components[0], workload), 2 * GiB);
}

// ---- Numbers and lists that wrapped or were silently accepted ------------------------------------

TEST(Options, NegativeAndOverflowingNumbersAreRefusedNamingTheValue) {
  TempDir tmp;
  const std::string model = shell_quote(tiny_model(tmp).string());
  expect_usage_failure(run_vramguard("plan " + model + sim() + " --tokens=-1"), "--tokens '-1'");
  expect_usage_failure(run_vramguard("plan " + model + sim() + " --tokens 99999999999999999999999"), "--tokens");
  expect_usage_failure(run_vramguard("load " + model + sim() + " --max-attempts -1"), "--max-attempts '-1'");
  expect_usage_failure(run_vramguard("load " + model + sim() + " --simulate-oom-at -1"), "--simulate-oom-at '-1'");
  expect_usage_failure(run_vramguard("load " + model + sim() + " --simulate-other-process 0=1GB@-1"), "0=1GB@-1");
  expect_usage_failure(run_vramguard("synth --arch qwen2 --out " + shell_quote((tmp / "s").string()) + " --seed -1"),
                       "--seed '-1'");
  expect_usage_failure(run_vramguard("plan " + model + " --simulate cuda:16GiB@0GB/s"), "more than 0");
  EXPECT_EQ(run_vramguard("load " + model + sim() + " --simulate-other-process cuda:0=1GB@1").exit_code, 0);
}

TEST(Options, EmptyAndRepeatedDeviceListsAreRefused) {
  TempDir tmp;
  const std::string model = shell_quote(tiny_model(tmp).string());
  expect_usage_failure(run_vramguard("plan " + model + sim() + " --max-memory ''"), "--max-memory '' is empty");
  expect_usage_failure(run_vramguard("plan " + model + sim() + " --max-memory ,,,"), "empty entry");
  expect_usage_failure(run_vramguard("plan " + model + sim() + " --max-memory 0=1GB,0=2GB"), "twice");
  expect_usage_failure(run_vramguard("plan " + model + sim() + " --max-memory disk=1"), "cannot cap disk");
}

TEST(Options, AConfigThatIsNotAFileIsRefusedAtOnce) {
  TempDir tmp;
  const std::string model = shell_quote(tiny_model(tmp).string());
  expect_usage_failure(run_vramguard("plan " + model + sim() + " --config " + shell_quote(tmp.path().string())),
                       "not a config file");
  expect_usage_failure(run_vramguard("plan " + model + sim(), "VRAMGUARD_CONFIG=/tmp"), "not a config file");
  expect_usage_failure(run_vramguard("plan " + model + sim() + " --config /dev/zero"), "not a config file");
}

TEST(Options, AnEnvironmentVariableNamedOnlyThePrefixIsIgnored) {
  const auto result = run_vramguard("help", "VRAMGUARD_=1 VRAMGUARD_BOGUS=2");
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.err.find("VRAMGUARD_BOGUS"), std::string::npos) << result.err;
  // No guess for a name like no option's (the shared prefix once made VRAMGUARD_OUT look close).
  EXPECT_EQ(result.err.find("did you mean"), std::string::npos) << result.err;
}

TEST(Outputs, AFullDiskIsAnErrorNotAnEmptyFile) {
  TempDir tmp;
  const std::string model = shell_quote(tiny_model(tmp).string());
  auto result = run_vramguard("plan " + model + sim() + " --export-device-map /dev/full");
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("/dev/full"), std::string::npos) << result.err;
  result = run_vramguard("load " + model + sim() + " --report /dev/full");
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("the report"), std::string::npos) << result.err;
}

TEST(Outputs, SynthIntoAFileSaysItIsAFile) {
  TempDir tmp;
  write_file(tmp / "existing", "x");
  expect_usage_failure(run_vramguard("synth --arch qwen2 --out " + shell_quote((tmp / "existing").string())),
                       "is a file, not a folder");
}

TEST(Outputs, SynthRecordsTheDtypeItWrote) {
  TempDir tmp;
  ASSERT_EQ(run_vramguard("synth --arch qwen2 --dtype fp32 --out " + shell_quote((tmp / "m").string())).exit_code, 0);
  std::ifstream in(tmp / "m" / "config.json");
  EXPECT_EQ(nlohmann::json::parse(in)["torch_dtype"], "float32");
}

// ---- Ctrl-C in every stage -----------------------------------------------------------------------

TEST(Interrupts, CtrlCDuringVerifyStopsAndReleases) {
  TempDir tmp;
  const InspectedModel model = inspect_model(tiny_model(tmp).string(), {}, {});
  const PluginRegistry registry = PluginRegistry::discover({{BUILTIN_PLUGIN_DIR, "built-in"}}, {});
  SimulatedRuntime runtime("cuda:2GB", GiB, {}, true);
  std::atomic<bool> stop{false};
  GuardOptions options;
  options.strategy = "balanced";
  options.budget.headroom = 0;
  options.budget.reserve_all = 0;
  options.cpu_memory = GiB;
  options.cancel = &stop;
  options.progress = [&](std::uint64_t done, std::uint64_t total) { stop = done == total; };  // right after the load
  GuardPipeline pipeline(runtime, registry, model, options);
  try {
    pipeline.run();
    FAIL() << "the interrupt was ignored";
  } catch (const GuardFailure& failure) {
    EXPECT_EQ(failure.exit_code(), ExitCode::interrupted);
    const auto& stages = failure.report().attempts.back().stages;
    bool verify_stopped = false;
    for (const auto& s : stages) verify_stopped = verify_stopped || (s.stage == "verify" && s.outcome != "ok");
    EXPECT_TRUE(verify_stopped);
  }
  EXPECT_EQ(runtime.live_bytes(), 0u);
}

TEST(Checks, VerifyDataRunsOnSimulatedDevicesForAModelOverTheOldLimit) {
  // 180 MiB was refused as "over 256 MiB" once its blocks were rounded.
  TempDir tmp;
  std::string header = "{";
  const std::uint64_t elements = 15'728'640;  // 60 MiB of F32 each, three of them
  for (std::uint64_t i = 0; i < 3; ++i)
    header += std::string(i ? "," : "") + "\"layers." + std::to_string(i) + ".w\":{\"dtype\":\"F32\",\"shape\":[" +
              std::to_string(elements) + "],\"data_offsets\":[" + std::to_string(i * elements * 4) + "," +
              std::to_string((i + 1) * elements * 4) + "]}";
  header += "}";
  std::string bytes = safetensors_bytes(header, 3 * elements * 4);
  for (std::size_t i = bytes.size() - 3 * elements * 4; i < bytes.size(); i += 4097)
    bytes[i] = static_cast<char>(i * 131);
  write_file(tmp / "big.safetensors", bytes);
  const auto result = run_vramguard("load " + shell_quote((tmp / "big.safetensors").string()) +
                                    " --simulate cuda:4GB --cpu-memory 4GiB --verify-data --json");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(nlohmann::json::parse(result.out)["data_verified"].get<bool>());
}

TEST(Outputs, NoOutputOverwritesAFileTheModelIsReadFrom) {
  // run --output, load --report, plan --export-device-map and doctor --write-config once overwrote the
  // weights or the config they had just read.
  TempDir tmp;
  const fs::path model = tiny_model(tmp);
  auto bytes_of = [](const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), {});
  };
  const std::string weights = bytes_of(model / "model.safetensors"), config = bytes_of(model / "config.json");
  const std::string m = shell_quote(model.string());
  const std::string weights_path = shell_quote((model / "model.safetensors").string()),
                    config_path = shell_quote((model / "config.json").string());
  for (const std::string& command :
       std::vector<std::string>{"run " + m + sim() + " --tokens 4 --steps 1 --output " + weights_path,
                                "load " + m + sim() + " --report " + config_path,
                                "plan " + m + sim() + " --export-device-map " + weights_path,
                                "doctor " + m + sim() + " --write-config " + config_path}) {
    SCOPED_TRACE(command);
    const auto result = run_vramguard(command);
    expect_usage_failure(result, "one of the files this command reads");
    EXPECT_EQ(result.err.find("load..."), std::string::npos) << "it worked before refusing";
  }
  EXPECT_EQ(bytes_of(model / "model.safetensors"), weights);
  EXPECT_EQ(bytes_of(model / "config.json"), config);
}

TEST(Outputs, ALinkAtTheOutputPathIsRefusedNotFollowed) {
  TempDir tmp;
  const fs::path model = tiny_model(tmp);
  write_file(tmp / "precious.txt", "keep me");
  fs::create_symlink(tmp / "precious.txt", tmp / "to-precious.json");
  fs::create_symlink(tmp / "nothing-here", tmp / "dangling.json");
  for (const char* link : {"to-precious.json", "dangling.json"}) {
    SCOPED_TRACE(link);
    expect_usage_failure(run_vramguard("plan " + shell_quote(model.string()) + sim() + " --export-device-map " +
                                       shell_quote((tmp / link).string())),
                         "symbolic link");
  }
  std::ifstream in(tmp / "precious.txt");
  EXPECT_EQ(std::string((std::istreambuf_iterator<char>(in)), {}), "keep me");
  EXPECT_FALSE(fs::exists(tmp / "nothing-here"));
}

TEST(Outputs, ReplacingAnExistingFileIsSaidAndLeavesNoTemporaryFileBehind) {
  TempDir tmp;
  const fs::path model = tiny_model(tmp);
  write_file(tmp / "out" / "map.json", "old");
  const auto result = run_vramguard("plan " + shell_quote(model.string()) + sim() + " --export-device-map " +
                                    shell_quote((tmp / "out" / "map.json").string()));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.err.find("replaced the existing"), std::string::npos) << result.err;
  std::ifstream in(tmp / "out" / "map.json");
  EXPECT_EQ(std::string((std::istreambuf_iterator<char>(in)), {}).find("old"), std::string::npos);
  std::size_t files = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(tmp / "out")) ++files;
  EXPECT_EQ(files, 1u);
  // A device is written into, never replaced.
  EXPECT_EQ(run_vramguard("plan " + shell_quote(model.string()) + sim() + " --export-device-map /dev/null").exit_code,
            0);
  EXPECT_TRUE(fs::is_character_file("/dev/null"));
}
