// The edit in C++ equals diffusers' QwenImageEditPipeline on the fixture (tests/data/fixtures/
// qie_pipeline_tiny: the tiny pipeline as diffusers saved it, its call's arguments and every stage's
// output): the final latents within 1e-3 and the image within 1/255, under every strategy, with
// budgets that make units stream, on simulated GPUs where the CPU computes in their place.
#include <gtest/gtest.h>
#include <ATen/CPUGeneratorImpl.h>

#include <atomic>
#include <set>

#include "core/errors.hpp"
#include "image/image_file.hpp"
#include "qwen_image_edit/edit_run.hpp"
#include "runtime/edit_support.hpp"
#include "vramguard/cost_model.hpp"

using namespace vramguard;
using namespace vramguard::testing;
namespace fs = std::filesystem;

namespace {

const fs::path kFixture = fixture("qie_pipeline_tiny");
const std::string kPipeline = (kFixture / "pipeline").string();

pipelines::EditSettings fixture_call() { return tiny_edit_call(); }

// The same call with pipe.vae.enable_tiling() (diffusers' 256-pixel tiles every 192): the ~1024²
// input encodes in tiles, the 256x384 result decodes in them.
const fs::path kTiled = kFixture / "expected_tiled.safetensors";

void expect_result(const pipelines::EditOutcome& out, const fs::path& expected) {
  EXPECT_LT(largest_difference(out.final_latents, load_tensor(expected, "final_latents")), 1e-3);
  EXPECT_LT(largest_difference(out.image_values, load_tensor(expected, "image")), 1.0 / 255);
}

// What `vramguard edit` keeps as each GPU's headroom: the edit's largest call, the VAE's in tiles.
std::string edit_headroom(const pipelines::EditInputs& inputs) {
  auto session = runtime::Session::open(kPipeline, edit_options("balanced", "cuda:3GB"));
  const auto demands = pipelines::edit_demands(session->description(), inputs,
                                               [&](const std::string& c) { return session->compute_target(c); });
  EXPECT_LT(demands.activation_bytes, demands.whole_picture_vae_bytes)
      << "the VAE on the whole picture is not the edit's largest call";
  return std::to_string(demands.activation_bytes + default_cost_constants().workspace_bytes);
}

}  // namespace

TEST(EditPipeline, EqualsDiffusersUnderEveryStrategy) {
  const pipelines::EditInputs inputs = pipelines::prepare_edit(kPipeline, fixture_call());
  const at::Tensor final_latents = load_tensor(kFixture / "expected.safetensors", "final_latents");
  const at::Tensor image = load_tensor(kFixture / "expected.safetensors", "image");
  const pipelines::RgbImage expected_png = pipelines::read_image((kFixture / "expected.png").string());
  for (const auto& c : every_strategy(kPipeline)) {
    SCOPED_TRACE(c.strategy + " on " + c.gpus);
    auto options = edit_options(c.strategy, c.gpus);
    options.strategy_options = c.options;
    auto session = runtime::Session::open(kPipeline, options);
    EXPECT_TRUE(plan_uses(*session, c.expected_mode)) << "the plan does not use " << c.expected_mode;
    int progress_lines = 0;
    std::set<std::string> stages;
    pipelines::EditHooks hooks;
    hooks.on_step = [&](const pipelines::EditStepReport& r) {
      EXPECT_EQ(r.step, ++progress_lines);
      EXPECT_EQ(r.steps, 2);
    };
    // Stage by stage, each equal to the pipeline's own.
    hooks.on_stage = [&](const std::string& stage, const at::Tensor& value) {
      stages.insert(stage);
      const std::string name = stage == "latents" ? "latents" : stage;
      const fs::path file = kFixture / (stage == "latents" ? "inputs.safetensors" : "expected.safetensors");
      const at::Tensor expected = load_tensor(file, name);
      ASSERT_EQ(value.sizes().vec(), expected.sizes().vec()) << stage;
      EXPECT_LT(relative_difference(value.to(at::kCPU, at::kFloat), expected), 1e-4) << stage;
    };
    const pipelines::EditOutcome out = pipelines::run_edit(*session, inputs, hooks);
    EXPECT_EQ(stages, (std::set<std::string>{"prompt_embeds", "negative_prompt_embeds", "image_latents", "latents"}));
    EXPECT_EQ(progress_lines, 2);
    EXPECT_EQ(session->generation(), 1u) << "a step fell back: the case did not run the strategy it names";
    ASSERT_EQ(out.final_latents_shape, final_latents.sizes().vec());
    EXPECT_LT(largest_difference(out.final_latents, final_latents), 1e-3);
    ASSERT_EQ(out.image_values.size(), static_cast<std::size_t>(image.numel()));
    EXPECT_LT(largest_difference(out.image_values, image), 1.0 / 255);
    ASSERT_EQ(out.image.width, expected_png.width);
    ASSERT_EQ(out.image.height, expected_png.height);
    int off = 0;
    for (std::size_t i = 0; i < out.image.pixels.size(); ++i)
      off = std::max(off, std::abs(out.image.pixels[i] - expected_png.pixels[i]));
    EXPECT_LE(off, 1) << "8-bit values differ from diffusers' PNG by more than one level";
  }
}

TEST(EditPipeline, SeededNoiseIsDrawnAsDiffusersDrawsIt) {
  // Without --latents the noise comes from the seed as diffusers' randn_tensor draws it: a CPU
  // generator seeded with it, [1, 1, channels, height/8, width/8] in the latents' dtype, packed 2x2.
  auto settings = fixture_call();
  settings.latents.reset();
  settings.seed = 7;
  auto session = runtime::Session::open(kPipeline, edit_options("balanced", "cuda:3GB"));
  at::Tensor drawn;
  std::atomic<bool> stop{false};
  pipelines::EditHooks hooks;
  hooks.cancel = &stop;
  hooks.on_stage = [&](const std::string& stage, const at::Tensor& value) {
    if (stage != "latents") return;
    drawn = value.to(at::kCPU);
    stop = true;  // the rest of the edit is the other test's
  };
  EXPECT_THROW(pipelines::run_edit(*session, pipelines::prepare_edit(kPipeline, settings), hooks), Interrupted);
  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(7);
  const at::Tensor expected = at::randn({1, 1, 4, 32, 48}, generator, at::kFloat)
                                  .view({1, 4, 16, 2, 24, 2})
                                  .permute({0, 2, 4, 1, 3, 5})
                                  .reshape({1, 384, 16});
  ASSERT_TRUE(drawn.defined());
  EXPECT_TRUE(at::equal(drawn, expected));
}

TEST(EditPipeline, InTilesEqualsDiffusersWithTilingEnabled) {
  auto settings = fixture_call();
  settings.vae_tiling = pipelines::VaeTilingMode::always;
  auto session = runtime::Session::open(kPipeline, edit_options("sequential-offload", "cuda:3GB"));
  const auto out = pipelines::run_edit(*session, pipelines::prepare_edit(kPipeline, settings));
  EXPECT_TRUE(out.vae_encode.tiled);
  EXPECT_TRUE(out.vae_decode.tiled);
  EXPECT_EQ(out.vae_encode.why, "--vae-tiling always");
  expect_result(out, kTiled);
}

TEST(EditPipeline, AutomaticTilingOnlyWhereThePlanLeavesTheWholePictureNoRoom) {
  auto settings = fixture_call();
  settings.vae_tiling = pipelines::VaeTilingMode::automatic;
  const pipelines::EditInputs inputs = pipelines::prepare_edit(kPipeline, settings);
  const std::string headroom = edit_headroom(inputs);
  // Room to spare: the whole picture, as diffusers by default.
  {
    auto options = edit_options("balanced", "cuda:4GB");
    options.headroom = headroom;
    auto session = runtime::Session::open(kPipeline, options);
    const auto out = pipelines::run_edit(*session, inputs);
    EXPECT_FALSE(out.vae_encode.tiled) << out.vae_encode.why;
    EXPECT_FALSE(out.vae_decode.tiled) << out.vae_decode.why;
    expect_result(out, kFixture / "expected.safetensors");
  }
  // A GPU that holds the plan and the tiled VAE's activations but not the whole picture's, sized from this
  // build's own estimates (the whole picture's attention is estimated differently by torch versions).
  {
    std::string gpu;
    {
      auto options = edit_options("balanced", "cuda:4GB");
      options.headroom = headroom;
      auto session = runtime::Session::open(kPipeline, options);
      const auto demands = pipelines::edit_demands(session->description(), inputs,
                                                   [&](const std::string& c) { return session->compute_target(c); });
      // On cuda:4GB the plan leaves `room`; the GPU made smaller by the difference leaves halfway between
      // the tiled and the whole picture's activations.
      const std::uint64_t room = session->activation_room_bytes("vae");
      const std::uint64_t halfway =
          (demands.activation_bytes + demands.whole_picture_vae_bytes) / 2 + default_cost_constants().workspace_bytes;
      ASSERT_GT(room, halfway);
      gpu = "cuda:" + std::to_string(4'000'000'000ULL - room + halfway);
    }
    auto options = edit_options("balanced", gpu);
    options.headroom = headroom;
    auto session = runtime::Session::open(kPipeline, options);
    const auto out = pipelines::run_edit(*session, inputs);
    EXPECT_EQ(session->generation(), 1u) << "a step fell back";
    ASSERT_TRUE(out.vae_encode.tiled);
    EXPECT_NE(out.vae_encode.why.find("the plan leaves"), std::string::npos) << out.vae_encode.why;
    // The 256x384 result's decode fits whole: decoded whole, as diffusers without tiling.
    EXPECT_FALSE(out.vae_decode.tiled) << out.vae_decode.why;
  }
}

TEST(EditPipeline, AWholePictureThatRunsOutOfMemoryRunsAgainInTilesBeforeTheGuardFallsBack) {
  auto settings = fixture_call();
  settings.vae_tiling = pipelines::VaeTilingMode::automatic;
  auto options = edit_options("balanced", "cuda:4GB");
  // The third step is the VAE's encode (the prompt's and the negative prompt's come first).
  options.settings = {{"simulate-oom-at-step", "3"}};
  auto session = runtime::Session::open(kPipeline, options);
  const auto out = pipelines::run_edit(*session, pipelines::prepare_edit(kPipeline, settings));
  EXPECT_EQ(session->generation(), 1u) << "the guard reloaded instead of the VAE tiling";
  ASSERT_TRUE(out.vae_encode.tiled);
  EXPECT_NE(out.vae_encode.why.find("ran out of memory"), std::string::npos) << out.vae_encode.why;
  EXPECT_TRUE(out.vae_decode.tiled) << "after an out-of-memory the edit's later VAE calls tile too";
  expect_result(out, kTiled);
}
