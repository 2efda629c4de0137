// CFG-parallel from the command line, on two simulated GPUs: true CFG's negative pass runs on the second
// GPU (its own load of the transformer) at the same time as the positive one on the first, and every edit
// fixture comes out as diffusers made it, as the one-GPU edit does. `auto` weighs it against the one load
// and says why; `--gpus` keeps a load to the GPUs it names.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "support/run_process.hpp"
#include "support/stored_tensors.hpp"
#include "support/temp_dir.hpp"

using namespace vramguard;
using namespace vramguard::testing;
namespace fs = std::filesystem;

namespace {

const fs::path kFixtures = fs::path(TEST_DATA_DIR) / "fixtures";
const std::string kTwoGpus = " --simulate cuda:3GB,cuda:3GB --cpu-memory 6GiB";

// An edit fixture: its pipeline, the command line's inputs, and the final latents diffusers made.
struct Fixture {
  std::string name;
  std::string call;    // `edit PIPELINE --image ... --latents ...` with the fixture's arguments
  fs::path expected;   // safetensors holding the truth
  std::string tensor;  // its name there
};

std::string base_call(const fs::path& pipeline) {
  const fs::path base = kFixtures / "qie_pipeline_tiny";
  return "edit " + shell_quote(pipeline.string()) + " --image " + shell_quote((base / "input.png").string()) +
         " --prompt 'make the sky stormy' --negative-prompt ' ' --true-cfg-scale 4 --steps 2 --height 256 --width 384 "
         "--latents " +
         shell_quote((base / "inputs.safetensors").string());
}

std::vector<Fixture> edit_fixtures() {
  const fs::path base = kFixtures / "qie_pipeline_tiny", plus = kFixtures / "qie_plus_pipeline_tiny";
  const fs::path lora = kFixtures / "qie_pipeline_tiny_lora", fp8 = kFixtures / "qie_pipeline_tiny_fp8";
  return {
      {"the first Edit", base_call(base / "pipeline"), base / "expected.safetensors", "final_latents"},
      {"Edit-2511 with two pictures",
       "edit " + shell_quote((plus / "pipeline").string()) + " --image " +
           shell_quote((plus / "input_0.png").string()) + " --image " + shell_quote((plus / "input_1.png").string()) +
           " --prompt 'put the cat from picture 2 on the sofa in picture 1' --negative-prompt ' ' --true-cfg-scale 4 "
           "--steps 2 --height 256 --width 384 --latents " +
           shell_quote((plus / "inputs.safetensors").string()),
       plus / "expected.safetensors", "final_latents"},
      {"a kohya LoRA at 0.6",
       base_call(base / "pipeline") + " --lora " + shell_quote((lora / "lora" / "kohya_format.safetensors").string()) +
           ":0.6",
       lora / "expected.safetensors", "final_latents_lora_scaled"},
      {"scaled fp8 weights", base_call(fp8 / "pipeline"), fp8 / "expected.safetensors", "final_latents_fp8"},
  };
}

// The call with true CFG's scale at 1: no negative pass.
std::string without_true_cfg(std::string call) {
  const std::string scale = "--true-cfg-scale 4";
  return call.replace(call.find(scale), scale.size(), "--true-cfg-scale 1");
}

double largest_difference(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return INFINITY;
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(static_cast<double>(a[i]) - b[i]));
  return worst;
}

}  // namespace

// Each fixture on two GPUs at once gives diffusers' latents; the first Edit's equal the one-GPU edit's to
// the bit (the same passes, each on its own GPU) under each strategy a load can take on one GPU.
TEST(CfgParallel, EveryEditFixtureOnTwoGpusEqualsDiffusersAndTheOneGpuEdit) {
  TempDir tmp;
  const std::vector<Fixture> fixtures = edit_fixtures();
  const std::string one_gpu = (tmp.path() / "one.safetensors").string();
  const auto single = run_vramguard(
      fixtures.front().call + " --simulate cuda:3GB --cpu-memory 6GiB --vae-tiling never --cfg-batch never " +
      "--output " + shell_quote((tmp.path() / "one.png").string()) + " --output-latents " + shell_quote(one_gpu));
  ASSERT_EQ(single.exit_code, 0) << single.err;
  const auto one = stored_tensor<float>(one_gpu, "latents");
  for (const Fixture& fixture : fixtures) {
    const bool first = &fixture == &fixtures.front();
    for (const std::string strategy : {"auto", "balanced", "sequential-offload"}) {
      if (!first && strategy != "auto") continue;
      const std::string latents = (tmp.path() / (strategy + ".safetensors")).string();
      const auto result = run_vramguard(fixture.call + kTwoGpus + " --cfg-parallel on --vae-tiling never --strategy " +
                                        strategy + " --output " + shell_quote((tmp.path() / "two.png").string()) +
                                        " --output-latents " + shell_quote(latents) + " --json");
      ASSERT_EQ(result.exit_code, 0) << fixture.name << " under " << strategy << ": " << result.err;
      const auto edit = nlohmann::json::parse(result.out)["edit"];
      EXPECT_TRUE(edit["cfg_parallel"]["ran"].get<bool>()) << fixture.name << " under " << strategy;
      EXPECT_EQ(edit["cfg_parallel"]["second_load_strategy"], strategy) << fixture.name;
      EXPECT_TRUE(edit["cfg_parallel"]["second_load"]["success"].get<bool>()) << fixture.name;
      // Each GPU held what its load planned, and each was predicted.
      for (const std::string gpu : {"cuda:0", "cuda:1"}) {
        EXPECT_GT(edit["peak_bytes"].value(gpu, 0.0), 0.0) << fixture.name << " under " << strategy << " on " << gpu;
        EXPECT_GT(edit["predicted_peak_bytes"].value(gpu, 0.0), 0.0) << fixture.name << " on " << gpu;
      }
      const auto written = stored_tensor<float>(latents, "latents");
      EXPECT_LT(largest_difference(written, stored_tensor<float>(fixture.expected.string(), fixture.tensor)), 1e-3)
          << fixture.name << " under " << strategy;
      if (first) {
        EXPECT_EQ(largest_difference(written, one), 0.0) << fixture.name << " under " << strategy;
      }
    }
  }
}

// Left to itself the edit plans both ways and takes the one its predictions say is faster, saying which
// and by how much; the result does not depend on the choice.
TEST(CfgParallel, AutoWeighsBothWaysAndSaysWhichItTook) {
  TempDir tmp;
  const Fixture fixture = edit_fixtures().front();
  const std::string latents = (tmp.path() / "latents.safetensors").string();
  const auto result =
      run_vramguard(fixture.call + kTwoGpus + " --output " + shell_quote((tmp.path() / "edited.png").string()) +
                    " --output-latents " + shell_quote(latents) + " --json");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto parallel = nlohmann::json::parse(result.out)["edit"]["cfg_parallel"];
  const double one_load = parallel["predicted_one_load_seconds"], both = parallel["predicted_parallel_seconds"];
  ASSERT_GT(one_load, 0.0);
  ASSERT_GT(both, 0.0);
  EXPECT_EQ(parallel["ran"].get<bool>(), both < one_load * 0.98) << parallel.dump();
  EXPECT_NE(parallel["why"].get<std::string>().find("against"), std::string::npos) << parallel.dump();
  EXPECT_LT(largest_difference(stored_tensor<float>(latents, "latents"),
                               stored_tensor<float>(fixture.expected.string(), fixture.tensor)),
            1e-3);
  // Off, or on one GPU, there is nothing to weigh.
  const auto off = run_vramguard(fixture.call + kTwoGpus + " --cfg-parallel off --output " +
                                 shell_quote((tmp.path() / "off.png").string()) + " --json");
  ASSERT_EQ(off.exit_code, 0) << off.err;
  EXPECT_FALSE(nlohmann::json::parse(off.out)["edit"]["cfg_parallel"]["ran"].get<bool>());
  const auto one_gpu = run_vramguard(fixture.call + kTwoGpus + " --gpus 1 --output " +
                                     shell_quote((tmp.path() / "one.png").string()) + " --json");
  ASSERT_EQ(one_gpu.exit_code, 0) << one_gpu.err;
  const auto edit = nlohmann::json::parse(one_gpu.out)["edit"];
  EXPECT_FALSE(edit["cfg_parallel"]["ran"].get<bool>());
  EXPECT_NE(edit["cfg_parallel"]["why"].get<std::string>().find("needs two GPUs"), std::string::npos);
  EXPECT_FALSE(edit["peak_bytes"].contains("cuda:0")) << "--gpus 1 leaves cuda:0 alone";
  EXPECT_TRUE(edit["peak_bytes"].contains("cuda:1"));
}

TEST(CfgParallel, WhatCannotRunOnTwoGpusExitsTwoNamingItBeforeLoading) {
  TempDir tmp;
  const Fixture fixture = edit_fixtures().front();
  const std::string out = " --output " + shell_quote((tmp.path() / "edited.png").string());
  for (const auto& [arguments, named] : std::vector<std::pair<std::string, std::string>>{
           {fixture.call + " --simulate cuda:3GB --cfg-parallel on", "needs two GPUs"},
           {fixture.call + kTwoGpus + " --gpus 0 --cfg-parallel on", "needs two GPUs"},
           {fixture.call + kTwoGpus + " --cfg-parallel sometimes", "--cfg-parallel 'sometimes'"},
           {fixture.call + kTwoGpus + " --gpus 2", "--gpus names cuda:2"},
           {fixture.call + kTwoGpus + " --gpus one", "--gpus 'one' is not a GPU's index"},
           {without_true_cfg(fixture.call) + kTwoGpus + " --cfg-parallel on", "has no true CFG"},
           {fixture.call + " --simulate cuda:3GB,cuda:64MB --cfg-parallel on", "does not fit twice"},
       }) {
    const auto result = run_vramguard(arguments + out);
    EXPECT_EQ(result.exit_code, 2) << arguments.substr(0, 300) << ": " << result.err;
    EXPECT_NE(result.err.find(named), std::string::npos) << arguments.substr(0, 300) << ": " << result.err;
    EXPECT_EQ(result.err.find("load..."), std::string::npos) << arguments.substr(0, 300) << ": it loaded first";
  }
}

// The second GPU fills between the plan and the load (another program takes it): the edit does not fail,
// it runs both passes on the first load, which planned each pass's activations, and says so.
TEST(CfgParallel, ASecondLoadThatNoLongerFitsLeavesBothPassesToTheFirst) {
  TempDir tmp;
  const Fixture fixture = edit_fixtures().front();
  const std::string latents = (tmp.path() / "latents.safetensors").string();
  const auto result = run_vramguard(
      fixture.call + kTwoGpus + " --cfg-parallel on --simulate-other-process 1=2900MB@1 --output " +
      shell_quote((tmp.path() / "edited.png").string()) + " --output-latents " + shell_quote(latents) + " --json");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto report = nlohmann::json::parse(result.out);
  const auto& edit = report["edit"];
  EXPECT_FALSE(edit["cfg_parallel"]["ran"].get<bool>());
  EXPECT_FALSE(edit["cfg_parallel"]["second_load"]["success"].get<bool>());
  EXPECT_EQ(edit["cfg_apart_why"], "CFG-parallel's second load did not fit");
  EXPECT_NE(report["warnings"].dump().find("did not fit; both passes ran on the first load"), std::string::npos)
      << report["warnings"].dump();
  EXPECT_LT(largest_difference(stored_tensor<float>(latents, "latents"),
                               stored_tensor<float>(fixture.expected.string(), fixture.tensor)),
            1e-3);
}

// compare weighs it beside the strategies: the component's passes of --job split over two GPUs at once,
// against the one load's.
TEST(CfgParallel, CompareWeighsItAgainstTheOneLoad) {
  const std::string pipeline = shell_quote((kFixtures / "qie_pipeline_tiny" / "pipeline").string());
  const auto result = run_vramguard("compare " + pipeline + kTwoGpus +
                                    " --job text_encoder=2,transformer=100,vae=2 --cfg-parallel transformer --json");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto parallel = nlohmann::json::parse(result.out)["cfg_parallel"];
  const double one_load = parallel["predicted_one_load_seconds"], both = parallel["predicted_parallel_seconds"];
  ASSERT_GT(both, 0.0) << parallel.dump();
  // Each GPU makes half the passes the one load makes on its GPU.
  EXPECT_LT(both, one_load) << parallel.dump();
  EXPECT_EQ(parallel["faster"].get<bool>(), both < one_load * 0.98);
  // Without a job's passes to split it is refused; with one GPU there is nothing to weigh, and it says so.
  const auto refused = run_vramguard("compare " + pipeline + kTwoGpus + " --cfg-parallel transformer");
  EXPECT_EQ(refused.exit_code, 2) << refused.err;
  EXPECT_NE(refused.err.find("--job gives it 1 pass"), std::string::npos) << refused.err;
  const auto one_gpu =
      run_vramguard("compare " + pipeline + " --simulate cuda:3GB --job transformer=4 --cfg-parallel transformer");
  EXPECT_EQ(one_gpu.exit_code, 0) << one_gpu.err;
  EXPECT_NE(one_gpu.out.find("CFG-parallel needs two GPUs"), std::string::npos) << one_gpu.out;
}
