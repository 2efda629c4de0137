// Edit-2509/2511 in C++ equals diffusers' QwenImageEditPlusPipeline on its fixture (tests/data/fixtures/
// qie_plus_pipeline_tiny: two pictures of different sizes, the transformer with zero_cond_t, true CFG 4,
// 2 steps), stage by stage: each picture's two sizes, what the processor and the VAE are given, the
// prompts' ids, the schedule, the prompt embeddings, the packed pictures' latents, then the final
// latents within 1e-3 and the image within 1/255 under every strategy, on simulated GPUs.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <set>

#include "core/errors.hpp"
#include "pipeline_registry.hpp"
#include "qwen_image_edit/edit_run.hpp"
#include "qwen_image_edit_plus/qwen_image_edit_plus.hpp"
#include "runtime/edit_support.hpp"

using namespace vramguard;
using namespace vramguard::testing;
namespace fs = std::filesystem;

namespace {

const fs::path kFixture = fixture("qie_plus_pipeline_tiny");
const std::string kPipeline = (kFixture / "pipeline").string();

nlohmann::json case_json() { return nlohmann::json::parse(std::ifstream(kFixture / "case.json")); }

// The fixture's call: pipe(image=[input_0.png, input_1.png], prompt=..., negative_prompt=" ",
// true_cfg_scale=4.0, num_inference_steps=2, height=256, width=384, latents=inputs["latents"]).
pipelines::EditSettings fixture_call() {
  pipelines::EditSettings s;
  s.images = {kFixture / "input_0.png", kFixture / "input_1.png"};
  s.prompt = "put the cat from picture 2 on the sofa in picture 1";
  s.negative_prompt = " ";
  s.true_cfg_scale = 4.0;
  s.steps = 2;
  s.height = 256;
  s.width = 384;
  s.latents = kFixture / "inputs.safetensors";
  s.vae_tiling = pipelines::VaeTilingMode::never;
  return s;
}

pipelines::EditInputs prepared(const pipelines::EditSettings& settings = fixture_call()) {
  return pipelines::prepare_edit(kPipeline, settings, pipelines::edit_plus_variant());
}

std::vector<std::int64_t> ints(const at::Tensor& t) {
  const auto c = t.to(at::kLong).contiguous();
  return {c.data_ptr<std::int64_t>(), c.data_ptr<std::int64_t>() + c.numel()};
}

// diffusers' summaries of a large tensor: its sum and the sum of its magnitudes.
void expect_summary(const std::vector<float>& values, const nlohmann::json& summary, const std::string& what) {
  double sum = 0, abs_sum = 0;
  for (const float v : values) {
    sum += v;
    abs_sum += std::abs(v);
  }
  EXPECT_NEAR(abs_sum, summary["abs_sum"].get<double>(), 1e-5 * summary["abs_sum"].get<double>()) << what;
  EXPECT_NEAR(sum, summary["sum"].get<double>(), 1e-5 * summary["abs_sum"].get<double>()) << what;
}

}  // namespace

TEST(EditPlusPipeline, TheFolderPicksItByItsClassName) {
  EXPECT_EQ(pipelines::pipeline_spec_for(kPipeline).name, "qwen_image_edit_plus");
  EXPECT_EQ(pipelines::pipeline_spec_for(fixture("qie_pipeline_tiny") / "pipeline").name, "qwen_image_edit");
}

TEST(EditPlusPipeline, EachPictureIsSizedAndProcessedAsDiffusersDoesIt) {
  const pipelines::EditInputs in = prepared();
  const auto c = case_json();
  ASSERT_EQ(in.pictures.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    SCOPED_TRACE("picture " + std::to_string(i + 1));
    const auto& p = in.pictures[i];
    const auto& sizes = c["image_sizes"][i];
    EXPECT_EQ(p.vae_width, sizes["vae"][0].get<int>());
    EXPECT_EQ(p.vae_height, sizes["vae"][1].get<int>());
    const auto& vae_input = c["vae_inputs"][i];
    EXPECT_EQ(static_cast<std::int64_t>(p.vae_image.size()),
              vae_input["shape"][3].get<std::int64_t>() * vae_input["shape"][4].get<std::int64_t>() * 3);
    expect_summary(p.vae_image, vae_input, "the VAE's input");
  }
  // The text encoder sees each picture at ~384² pixels: the processor's grids and patches.
  const fs::path expected = kFixture / "expected.safetensors";
  std::vector<std::int64_t> grids;
  std::vector<float> pixels;
  for (const auto& p : in.pictures) {
    grids.insert(grids.end(), p.grid_thw.begin(), p.grid_thw.end());
    pixels.insert(pixels.end(), p.pixel_values.begin(), p.pixel_values.end());
  }
  EXPECT_EQ(grids, ints(load_tensor(expected, "prompt_processor_image_grid_thw")));
  EXPECT_EQ(grids, ints(load_tensor(expected, "negative_processor_image_grid_thw")));
  expect_summary(pixels, c["processor_pixel_values"]["prompt"], "the processor's pixel values");
  EXPECT_EQ(in.prompt_ids, ints(load_tensor(expected, "prompt_processor_input_ids")));
  EXPECT_EQ(in.negative_ids, ints(load_tensor(expected, "negative_processor_input_ids")));
  const at::Tensor timesteps = load_tensor(expected, "timesteps"), sigmas = load_tensor(expected, "sigmas");
  ASSERT_EQ(in.schedule.timesteps.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i)
    EXPECT_NEAR(in.schedule.timesteps[i], timesteps[static_cast<std::int64_t>(i)].item<double>(), 1e-3);
  for (std::size_t i = 0; i < 3; ++i)
    EXPECT_NEAR(in.schedule.sigmas[i], sigmas[static_cast<std::int64_t>(i)].item<double>(), 1e-6);
}

TEST(EditPlusPipeline, WithoutASizeTheResultTakesTheLastPicturesAspect) {
  auto settings = fixture_call();
  settings.height.reset();
  settings.width.reset();
  settings.latents.reset();
  const pipelines::EditInputs in = prepared(settings);
  EXPECT_EQ(in.width, in.pictures.back().vae_width);
  EXPECT_EQ(in.height, in.pictures.back().vae_height);
}

// One strategy per test, so that ctest runs them side by side (each is a whole edit of two ~1024² pictures).
class EditPlusUnder : public ::testing::TestWithParam<std::string> {};

TEST_P(EditPlusUnder, EqualsDiffusersStageByStage) {
  const pipelines::EditInputs inputs = prepared();
  const fs::path expected = kFixture / "expected.safetensors";
  for (const auto& c : every_strategy(kPipeline)) {
    if (c.strategy != GetParam()) continue;
    SCOPED_TRACE(c.strategy + " on " + c.gpus);
    auto options = edit_options(c.strategy, c.gpus);
    options.strategy_options = c.options;
    auto session = runtime::Session::open(kPipeline, options);
    EXPECT_TRUE(plan_uses(*session, c.expected_mode)) << "the plan does not use " << c.expected_mode;
    std::set<std::string> stages;
    pipelines::EditHooks hooks;
    hooks.on_stage = [&](const std::string& stage, const at::Tensor& value) {
      stages.insert(stage);
      const at::Tensor reference = load_tensor(stage == "latents" ? kFixture / "inputs.safetensors" : expected, stage);
      ASSERT_EQ(value.sizes().vec(), reference.sizes().vec()) << stage;
      EXPECT_LT(relative_difference(value.to(at::kCPU, at::kFloat), reference), 1e-4) << stage;
    };
    const pipelines::EditOutcome out = pipelines::run_edit(*session, inputs, hooks);
    EXPECT_EQ(stages, (std::set<std::string>{"prompt_embeds", "negative_prompt_embeds", "image_latents", "latents"}));
    EXPECT_EQ(session->generation(), 1u) << "a step fell back: the case did not run the strategy it names";
    EXPECT_LT(largest_difference(out.final_latents, load_tensor(expected, "final_latents")), 1e-3);
    EXPECT_LT(largest_difference(out.image_values, load_tensor(expected, "image")), 1.0 / 255);
  }
}

INSTANTIATE_TEST_SUITE_P(EveryStrategy, EditPlusUnder, kEveryStrategyName, strategy_test_name);

TEST(EditPlusPipeline, PicturesItCannotTakeAreRefusedBeforeAnythingLoads) {
  auto settings = fixture_call();
  settings.images.assign(9, kFixture / "input_0.png");
  EXPECT_THROW(prepared(settings), UsageError);
  settings.images.clear();
  EXPECT_THROW(prepared(settings), UsageError);
  // The first Edit takes one picture; its folder names its own pipeline.
  settings = fixture_call();
  const fs::path first = fixture("qie_pipeline_tiny") / "pipeline";
  try {
    pipelines::prepare_edit(first, settings);
    ADD_FAILURE() << "two pictures were taken by the first Edit";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("takes one"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.hint()).find("2509"), std::string::npos) << e.hint();
  }
}
