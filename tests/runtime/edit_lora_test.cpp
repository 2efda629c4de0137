// A LoRA applied natively (--lora, runtime::Options::lora) equals diffusers' load_lora_weights on the
// fixture (tests/data/fixtures/qie_pipeline_tiny_lora: the tiny edit with a rank-4, alpha-8 LoRA on 12
// projection kinds of the transformer, saved in diffusers' and in kohya's naming): the final latents
// within 1e-3 at scale 1 under every strategy — the adapters resident with their unit, or streamed
// with it — and as two LoRAs, one in each naming, that add up to set_adapters' 0.6 (kohya's naming alone
// at 0.6, from a config: tests/integration/edit_cli_test.cpp).
#include <gtest/gtest.h>

#include <algorithm>

#include "qwen_image_edit/edit_run.hpp"
#include "runtime/edit_support.hpp"

using namespace vramguard;
using namespace vramguard::testing;
namespace fs = std::filesystem;

namespace {

const fs::path kBase = fixture("qie_pipeline_tiny");
const fs::path kFixture = fixture("qie_pipeline_tiny_lora");
const std::string kPipeline = (kBase / "pipeline").string();
const fs::path kExpected = kFixture / "expected.safetensors";

std::string lora(const std::string& naming, double scale = 1.0) {
  return (kFixture / "lora" / (naming + "_format.safetensors")).string() + ":" + std::to_string(scale);
}

pipelines::EditInputs fixture_call() { return pipelines::prepare_edit(kPipeline, tiny_edit_call()); }

std::vector<float> final_latents(runtime::Options options, const std::vector<std::string>& loras) {
  for (const auto& file : loras) options.lora.emplace_back(file);
  auto session = runtime::Session::open(kPipeline, options);
  EXPECT_EQ(session->description().find("transformer")->adapters.size(), 24u * loras.size())
      << "12 projection kinds in each of 2 blocks per LoRA";
  const auto out = pipelines::run_edit(*session, fixture_call());
  EXPECT_EQ(session->generation(), 1u) << "a step fell back";
  return out.final_latents;
}

}  // namespace

class LoraUnder : public ::testing::TestWithParam<std::string> {};

TEST_P(LoraUnder, EqualsDiffusersLoadLoraWeights) {
  for (const auto& c : every_strategy(kPipeline)) {
    if (c.strategy != GetParam()) continue;
    auto options = edit_options(c.strategy, c.gpus);
    options.strategy_options = c.options;
    options.lora = {lora("diffusers")};
    {
      auto session = runtime::Session::open(kPipeline, options);
      EXPECT_TRUE(plan_uses(*session, c.expected_mode)) << "the plan does not use " << c.expected_mode;
    }
    options.lora.clear();
    EXPECT_LT(
        largest_difference(final_latents(options, {lora("diffusers")}), load_tensor(kExpected, "final_latents_lora")),
        1e-3);
  }
}

INSTANTIATE_TEST_SUITE_P(EveryStrategy, LoraUnder, kEveryStrategyName, strategy_test_name);

TEST(Lora, TwoLorasAddUp) {
  // 0.3 of the LoRA in each naming is the LoRA at 0.6.
  EXPECT_LT(largest_difference(final_latents(edit_options("sequential-offload", "cuda:3GB"),
                                             {lora("kohya", 0.3), lora("diffusers", 0.3)}),
                               load_tensor(kExpected, "final_latents_lora_scaled")),
            1e-3);
}

TEST(Lora, ItsMatricesArePlannedWithTheUnitsTheyAdapt) {
  const auto plain = runtime::plan(kPipeline, edit_options("balanced", "cuda:3GB"));
  auto options = edit_options("balanced", "cuda:3GB");
  options.lora = {lora("diffusers")};
  const auto adapted = runtime::plan(kPipeline, options);
  const auto bytes_of = [](const runtime::PlanResult& plan, const std::string& unit) {
    const auto doc = nlohmann::json::parse(plan.json);
    for (const auto& u : doc["units"])
      if (u["name"] == unit) return u["bytes"].get<std::uint64_t>();
    ADD_FAILURE() << "no unit " << unit;
    return std::uint64_t{0};
  };
  // Per block: 8 attention projections of 32x32 and 4 MLP ones (32 -> 128, 128 -> 32), each adapter
  // rank 4: A [4, in] and B [out, 4] in fp32.
  const std::uint64_t per_block = (8 * (4 * 32 + 32 * 4) + 2 * (4 * 32 + 128 * 4) + 2 * (4 * 128 + 32 * 4)) * 4;
  EXPECT_EQ(bytes_of(adapted, "transformer_blocks.0") - bytes_of(plain, "transformer_blocks.0"), per_block);
  EXPECT_EQ(bytes_of(adapted, "img_in"), bytes_of(plain, "img_in"));
}

// Lightning's recipe: few steps without true CFG. The plan's job then counts one transformer pass a
// step (with true CFG, two; or one of a batch of two), so that auto weighs the transformer by the passes
// the edit makes.
TEST(Lora, FewStepsWithoutTrueCfgArePlannedAsOnePassAStep) {
  pipelines::EditSettings s = tiny_edit_call();
  s.negative_prompt.reset();
  s.latents.reset();
  s.steps = 8;
  s.true_cfg_scale = 1;
  auto session = runtime::Session::open(kPipeline, edit_options("balanced", "cuda:3GB"));
  const auto target_of = [&](const std::string& c) { return session->compute_target(c); };
  auto demands = pipelines::edit_demands(session->description(), pipelines::prepare_edit(kPipeline, s), target_of);
  EXPECT_EQ(demands.workload.components.at("transformer").passes, 8u);
  EXPECT_EQ(demands.workload.components.at("text_encoder").passes, 1u);
  s.negative_prompt = " ";
  s.true_cfg_scale = 4;
  s.cfg_batching = pipelines::CfgBatching::never;
  demands = pipelines::edit_demands(session->description(), pipelines::prepare_edit(kPipeline, s), target_of);
  EXPECT_EQ(demands.workload.components.at("transformer").passes, 16u);
  EXPECT_EQ(demands.workload.components.at("text_encoder").passes, 2u);
  // True CFG's passes as one batch of two: one pass a step, of twice the tokens.
  const auto tokens_apart = demands.workload.components.at("transformer").tokens;
  s.cfg_batching = pipelines::CfgBatching::always;
  demands = pipelines::edit_demands(session->description(), pipelines::prepare_edit(kPipeline, s), target_of);
  EXPECT_EQ(demands.workload.components.at("transformer").passes, 8u);
  EXPECT_EQ(demands.workload.components.at("transformer").tokens, 2 * tokens_apart);
}
