// `vramguard run` and `compare --measure` as a user sees them: exit codes, reports, the logits written.
// This binary does not link libtorch: the CLI is tested from outside, as any program would use it.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "model/safetensors_header.hpp"
#include "model/safetensors_writer.hpp"
#include "support/model_copy.hpp"
#include "support/run_process.hpp"
#include "support/temp_dir.hpp"

using namespace vramguard;
using namespace vramguard::testing;
namespace fs = std::filesystem;

namespace {

fs::path fixture(const std::string& name) { return fs::path(TEST_DATA_DIR) / "fixtures" / name; }
const fs::path kModel = fixture("qwen2_small") / "model";

// An F32 tensor's values, read with the host's own header parser.
std::vector<float> read_f32(const fs::path& file, const std::string& name) {
  const SafetensorsHeader header = read_safetensors_header(file.string());
  for (const auto& entry : header.tensors) {
    if (entry.name != name) continue;
    EXPECT_EQ(entry.dtype, DType::F32) << name;
    std::ifstream in(file, std::ios::binary);
    in.seekg(static_cast<std::streamoff>(header.data_offset + entry.begin));
    std::vector<float> values(entry.elements);
    in.read(reinterpret_cast<char*>(values.data()), static_cast<std::streamsize>(entry.bytes()));
    return values;
  }
  ADD_FAILURE() << file << " holds no tensor " << name;
  return {};
}

// The largest difference over the largest expected magnitude (as the runtime tests measure it).
double relative_difference(const std::vector<float>& got, const std::vector<float>& expected) {
  if (got.size() != expected.size() || expected.empty()) return INFINITY;
  double difference = 0, magnitude = 1e-30;
  for (std::size_t i = 0; i < got.size(); ++i) {
    difference = std::max(difference, std::abs(static_cast<double>(got[i]) - expected[i]));
    magnitude = std::max(magnitude, std::abs(static_cast<double>(expected[i])));
  }
  return difference / magnitude;
}

// The Qwen2 fixture under another class name: a model no family runs.
fs::path model_of_another_class(const TempDir& tmp, const std::string& class_name) {
  const fs::path folder = tmp / "other";
  fs::copy(kModel, folder, fs::copy_options::recursive);
  fs::permissions(folder / "config.json", fs::perms::owner_write, fs::perm_options::add);
  auto config = nlohmann::json::parse(std::ifstream(folder / "config.json"));
  config["architectures"] = {class_name};
  std::ofstream(folder / "config.json", std::ios::trunc) << config.dump();
  return folder;
}

}  // namespace

TEST(RunCommand, RunsReportsAndWritesTheLogits) {
  TempDir tmp;
  const std::string out = (tmp / "logits.safetensors").string();
  const auto result = run_vramguard("run " + shell_quote(kModel.string()) +
                                    " --simulate cuda:1GB --cpu-memory 4GiB --reserve 0 --headroom 0 " +
                                    "--strategy sequential-offload --steps 3 --input " +
                                    shell_quote((fixture("qwen2_small") / "inputs.safetensors").string()) +
                                    " --output " + shell_quote(out) + " --json");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto report = nlohmann::json::parse(result.out);
  const auto& run = report["run"];
  EXPECT_EQ(run["architecture"], "qwen2");
  EXPECT_EQ(run["entry"], "forward");
  EXPECT_EQ(run["steps"], 3);
  EXPECT_EQ(run["batch"], 2);
  EXPECT_EQ(run["tokens"], 19);
  // Every unit streams once per step: the bytes that cross are the model's, not the slots' allocator rounding.
  const auto inspected = nlohmann::json::parse(run_vramguard("inspect --json " + shell_quote(kModel.string())).out);
  EXPECT_EQ(run["streamed_bytes_per_step"].get<std::uint64_t>(), inspected["bytes"].get<std::uint64_t>());
  for (const char* key : {"first_step_seconds", "median_step_seconds", "p95_step_seconds", "tokens_per_second",
                          "achieved_host_to_device_bytes_per_s", "overlap_efficiency", "predicted_step_seconds"})
    EXPECT_TRUE(run.contains(key)) << key;
  EXPECT_LT(
      relative_difference(read_f32(out, "logits"), read_f32(fixture("qwen2_small") / "expected.safetensors", "logits")),
      1e-4);
}

TEST(RunCommand, HelpListsTheFamiliesTheRuntimeLibraryRegistersWithTheirEntries) {
  // No list of families outside their folders: help asks the runtime library.
  const auto result = run_vramguard("help run");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  for (const char* line : {"  qwen2: forward (", "  qwen2_5_vl: forward (", "  qwenimage_transformer: forward (",
                           "  qwenimage_vae: encode ("})
    EXPECT_NE(result.out.find(line), std::string::npos) << line << "\n" << result.out;
  EXPECT_NE(result.out.find("); decode ("), std::string::npos) << result.out;
}

TEST(RunCommand, BadInputExitsTwoBeforeLoading) {
  TempDir tmp;
  const std::string common = " --simulate cuda:1GB --cpu-memory 4GiB --reserve 0 --headroom 0";
  auto result = run_vramguard("run " + shell_quote(kModel.string()) + common + " --tokens 129");
  EXPECT_EQ(result.exit_code, 2) << result.err;
  EXPECT_NE(result.err.find("positions"), std::string::npos) << result.err;
  EXPECT_EQ(result.err.find("load..."), std::string::npos) << "it loaded before refusing";
  // An architecture no family runs: the families are listed.
  const fs::path unknown = model_of_another_class(tmp, "GPT2LMHeadModel");
  result = run_vramguard("run " + shell_quote(unknown.string()) + common);
  EXPECT_EQ(result.exit_code, 2) << result.err;
  EXPECT_NE(result.err.find("qwenimage_transformer"), std::string::npos) << result.err;
  // Inputs named for another entry, an unknown entry or component, and shapes beside --input: named.
  const std::string transformer = shell_quote((fixture("qwenimage_tiny") / "model").string());
  const std::string vae = shell_quote((fixture("qwenimage_vae_tiny") / "model").string());
  const std::string transformer_inputs = shell_quote((fixture("qwenimage_tiny") / "inputs.safetensors").string());
  for (const auto& [arguments, named] : std::vector<std::pair<std::string, std::string>>{
           {vae + " --entry decode --input " + transformer_inputs, "latents"},
           {vae + " --entry forward", "encode, decode"},
           {transformer + " --component vae", "its components: model"},
           {transformer + " --input " + transformer_inputs + " --batch 2", "--input gives the inputs' shapes"},
           {transformer + " --height 8", "--height"}}) {
    result = run_vramguard("run " + arguments + common);
    EXPECT_EQ(result.exit_code, 2) << arguments << ": " << result.err;
    EXPECT_NE(result.err.find(named), std::string::npos) << arguments << ": " << result.err;
    EXPECT_EQ(result.err.find("load..."), std::string::npos) << arguments << ": it loaded before refusing";
  }
  // A unit missing a tensor the adapter needs: named.
  fs::create_directories(tmp / "broken");
  fs::copy(kModel, tmp / "broken", fs::copy_options::recursive);
  const auto header = read_safetensors_header((tmp / "broken" / "model.safetensors").string());
  std::string json = "{";
  std::ifstream in(tmp / "broken" / "model.safetensors", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  nlohmann::json original = nlohmann::json::parse(bytes.substr(8, header.header_bytes));
  original.erase("model.layers.1.mlp.up_proj.weight");
  std::string text = original.dump();
  std::string rebuilt(8, '\0');
  for (int i = 0; i < 8; ++i) rebuilt[static_cast<std::size_t>(i)] = static_cast<char>((text.size() >> (8 * i)) & 0xFF);
  rebuilt += text + bytes.substr(header.data_offset);
  std::ofstream(tmp / "broken" / "model.safetensors", std::ios::binary | std::ios::trunc) << rebuilt;
  result = run_vramguard("run " + shell_quote((tmp / "broken").string()) + common);
  EXPECT_EQ(result.exit_code, 2) << result.err;
  EXPECT_NE(result.err.find("model.layers.1.mlp.up_proj.weight"), std::string::npos) << result.err;
}

TEST(CompareCommand, MeasureRunsPassesBesideThePredictionsWhereAFamilyRunsTheModel) {
  const std::string common = " --simulate cuda:1GB --cpu-memory 4GiB --reserve 0 --measure --steps 2";
  auto result = run_vramguard("compare " + shell_quote(kModel.string()) + common + " --json");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto doc = nlohmann::json::parse(result.out);
  for (const auto& row : doc["strategies"]) {
    if (!row["feasible"].get<bool>()) continue;
    SCOPED_TRACE(row["strategy"].get<std::string>());
    ASSERT_EQ(row["measured"]["runs"].size(), 1u);
    const auto& run = row["measured"]["runs"][0];
    EXPECT_EQ(run["steps"], 2);
    EXPECT_GT(run["peak_bytes"]["cuda:0"]["measured_bytes"].get<std::uint64_t>(), 0u);
    EXPECT_GT(run["peak_bytes"]["cuda:0"]["predicted_bytes"].get<std::uint64_t>(), 0u);
  }
  result = run_vramguard("compare " + shell_quote(kModel.string()) + common);
  EXPECT_NE(result.out.find("pred/meas"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("passes' activations"), std::string::npos) << result.out;
  // No family for the architecture: loads are measured, passes are not, and the table says which.
  TempDir tmp;
  result = run_vramguard("compare " + shell_quote(model_of_another_class(tmp, "GPT2LMHeadModel").string()) + common);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("(load)"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("No passes measured"), std::string::npos) << result.out;
}

TEST(RunCommand, RunsEachQwenImageEntryAndWritesItsOutputsByName) {
  TempDir tmp;
  const std::string common =
      " --simulate cuda:1GB --cpu-memory 4GiB --reserve 0 --strategy sequential-offload --steps 2 --json";
  // The transformer's 8 units pass through the 2-slot window every step; an entry of the VAE uses two
  // of its units, which stay in the slots after the first step.
  struct Case {
    std::string fixture, entry, output;
    bool streams_every_step;
  };
  for (const auto& c : std::vector<Case>{{"qwenimage_tiny", "forward", "sample", true},
                                         {"qwenimage_vae_tiny", "encode", "encoded_mean", false},
                                         {"qwenimage_vae_tiny", "decode", "decoded", false}}) {
    SCOPED_TRACE(c.fixture + " " + c.entry);
    const std::string out = (tmp / (c.entry + ".safetensors")).string();
    const auto result = run_vramguard(
        "run " + shell_quote((fixture(c.fixture) / "model").string()) + " --entry " + c.entry + " --input " +
        shell_quote((fixture(c.fixture) / "inputs.safetensors").string()) + " --output " + shell_quote(out) + common);
    ASSERT_EQ(result.exit_code, 0) << result.err;
    const auto run = nlohmann::json::parse(result.out)["run"];
    EXPECT_EQ(run["entry"], c.entry);
    EXPECT_EQ(run["steps"], 2);
    EXPECT_EQ(run["streamed_bytes_per_step"].get<std::uint64_t>() > 0, c.streams_every_step);
    EXPECT_EQ(run["unprefetched_units_after_first"], 0);
    EXPECT_LT(
        relative_difference(read_f32(out, c.output), read_f32(fixture(c.fixture) / "expected.safetensors", c.output)),
        1e-4);
  }
  // Without --input: seeded inputs of the asked size, the output of that size.
  const std::string out = (tmp / "generated.safetensors").string();
  const auto result = run_vramguard("run " + shell_quote((fixture("qwenimage_vae_tiny") / "model").string()) +
                                    " --entry decode --height 48 --width 64 --output " + shell_quote(out) + common);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto header = read_safetensors_header(out);
  ASSERT_EQ(header.tensors.size(), 1u);
  EXPECT_EQ(header.tensors[0].shape, (std::vector<std::int64_t>{1, 3, 1, 48, 64}));
}

// `run` takes --lora through the same code as `edit`: the fixture's transformer with its LoRA at 1 and at
// 0.5 gives what diffusers' load_lora_adapter and set_adapters gave, streamed block by block.
TEST(RunCommand, ALoraAppliesToTheComponentItAdaptsAsDiffusersAppliesIt) {
  TempDir tmp;
  const fs::path folder = fixture("qwenimage_tiny_lora");
  const std::string lora = (folder / "lora" / "pytorch_lora_weights.safetensors").string();
  for (const auto& [scale, expected] :
       std::vector<std::pair<std::string, std::string>>{{"", "sample_lora"}, {":0.5", "sample_lora_half"}}) {
    SCOPED_TRACE(expected);
    const std::string out = (tmp / (expected + ".safetensors")).string();
    const auto result = run_vramguard(
        "run " + shell_quote((folder / "model").string()) + " --input " +
        shell_quote((folder / "inputs.safetensors").string()) + " --lora " + shell_quote(lora + scale) + " --output " +
        shell_quote(out) + " --simulate cuda:1GB --cpu-memory 4GiB --reserve 0 --strategy sequential-offload --json");
    ASSERT_EQ(result.exit_code, 0) << result.err;
    EXPECT_LT(relative_difference(read_f32(out, "sample"), read_f32(folder / "expected.safetensors", expected)), 1e-4);
  }
}

TEST(RunCommand, AConfigThatLiesAboutTheModelIsRefusedNamingTheKeyBeforeLoading) {
  // Each of these ran before with exit 0 (fewer layers, NaN logits) or died in torch with exit 1.
  const std::string common = " --simulate cuda:1GB --cpu-memory 4GiB --reserve 0 --headroom 0 --steps 1";
  struct Lie {
    std::string from, to, key;
  };
  for (const auto& lie :
       std::vector<Lie>{{"\"num_hidden_layers\": 2", "\"num_hidden_layers\": 1", "num_hidden_layers"},
                        {"\"rms_norm_eps\": 1e-06", "\"rms_norm_eps\": 0", "rms_norm_eps"},
                        {"\"rope_theta\": 10000.0", "\"rope_theta\": -1", "rope_theta"},
                        {"\"num_key_value_heads\": 2", "\"num_key_value_heads\": 3", "num_key_value_heads"}}) {
    SCOPED_TRACE(lie.to);
    TempDir tmp;
    const fs::path folder = tmp / "model";
    ASSERT_TRUE(copy_with_config_edit(kModel, folder, lie.from, lie.to));
    const auto result = run_vramguard("run " + shell_quote(folder.string()) + common);
    EXPECT_EQ(result.exit_code, 2) << result.err;
    EXPECT_NE(result.err.find("config.json"), std::string::npos) << result.err;
    EXPECT_NE(result.err.find(lie.key), std::string::npos) << result.err;
    EXPECT_EQ(result.err.find("load..."), std::string::npos) << "it loaded before refusing";
  }
}

TEST(RunCommand, AnEmptyInputIsRefusedByName) {
  TempDir tmp;
  const std::int64_t none = 0;
  write_safetensors(tmp / "empty.safetensors", {{"input_ids", DType::I64, {0, 3}, &none}});
  const auto result = run_vramguard("run " + shell_quote(kModel.string()) +
                                    " --simulate cuda:1GB --cpu-memory 4GiB --reserve 0 --input " +
                                    shell_quote((tmp / "empty.safetensors").string()));
  EXPECT_EQ(result.exit_code, 2) << result.err;
  EXPECT_NE(result.err.find("input 'input_ids'"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("empty"), std::string::npos) << result.err;
}

TEST(RunCommand, AStepThatRunsOutOfMemoryFallsBackWithinTheRunAndItsOutputsStayRight) {
  // One out-of-memory path for every run: the session's. The second step fails; the guard loads the
  // next rung, the step runs again, and the report holds both attempts.
  TempDir tmp;
  const std::string out = (tmp / "logits.safetensors").string();
  const auto result = run_vramguard(
      "run " + shell_quote(kModel.string()) + " --simulate cuda:1GB --cpu-memory 4GiB --reserve 0 --headroom 0 " +
      "--strategy balanced --fallback sequential-offload --simulate-oom-at-step 2 --steps 3 --input " +
      shell_quote((fixture("qwen2_small") / "inputs.safetensors").string()) + " --output " + shell_quote(out) +
      " --json");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto report = nlohmann::json::parse(result.out);
  ASSERT_EQ(report["attempts"].size(), 2u);
  EXPECT_EQ(report["attempts"][0]["strategy"], "balanced");
  EXPECT_EQ(report["attempts"][1]["strategy"], "sequential-offload");
  EXPECT_EQ(report["strategy"], "sequential-offload");
  EXPECT_EQ(report["run"]["steps"], 3);
  EXPECT_LT(
      relative_difference(read_f32(out, "logits"), read_f32(fixture("qwen2_small") / "expected.safetensors", "logits")),
      1e-4);
}

TEST(RunCommand, OneComponentOfAPipelineRunsWithTheDevicesToItself) {
  TempDir tmp;
  const fs::path pipeline = tmp / "qie";
  ASSERT_EQ(
      run_vramguard("synth --arch qwen-image-edit --preset tiny --out " + shell_quote(pipeline.string())).exit_code, 0);
  const std::string common = " --simulate cuda:1GB --reserve 0 --steps 1 --height 64 --width 64 --json";
  const auto vae = run_vramguard("run " + shell_quote(pipeline.string()) + " --component vae --entry decode" + common);
  ASSERT_EQ(vae.exit_code, 0) << vae.err;
  const auto report = nlohmann::json::parse(vae.out);
  EXPECT_EQ(report["run"]["component"], "vae");
  // Only the VAE was loaded: what reached the GPU is the VAE's weights, not the pipeline's.
  const auto inspected =
      nlohmann::json::parse(run_vramguard("inspect " + shell_quote(pipeline.string()) + " --json").out);
  std::uint64_t vae_bytes = 0, pipeline_bytes = 0;
  for (const auto& component : inspected["components"]) {
    pipeline_bytes += component["bytes"].get<std::uint64_t>();
    if (component["name"] == "vae") vae_bytes = component["bytes"].get<std::uint64_t>();
  }
  ASSERT_GT(vae_bytes, 0u);
  EXPECT_LE(report["load"]["bytes_to_gpus"].get<std::uint64_t>(), vae_bytes + (1u << 20));
  EXPECT_LT(vae_bytes, pipeline_bytes);

  const auto misspelled = run_vramguard("run " + shell_quote(pipeline.string()) + " --component vea" + common);
  EXPECT_EQ(misspelled.exit_code, 2);
  EXPECT_NE(misspelled.err.find("has no component 'vea'"), std::string::npos) << misspelled.err;
  EXPECT_NE(misspelled.err.find("text_encoder, transformer, vae"), std::string::npos) << misspelled.err;
}
