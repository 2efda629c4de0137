// True CFG's two transformer passes as one over a batch of two (--cfg-batch, guidance_run.hpp): the
// edit equals diffusers' two passes (the fixture's final latents within 1e-3), each streamed weight
// crosses the link once a step instead of twice, and a batched step that runs out of memory runs again
// as two passes — and the rest of the edit keeps them apart — before the guard would reload.
#include <gtest/gtest.h>

#include "qwen_image_edit/edit_run.hpp"
#include "runtime/edit_support.hpp"

using namespace vramguard;
using namespace vramguard::testing;

namespace {

const std::string kPipeline = (fixture("qie_pipeline_tiny") / "pipeline").string();

pipelines::EditOutcome edit(const runtime::Options& options, pipelines::CfgBatching batching) {
  auto settings = tiny_edit_call();
  settings.cfg_batching = batching;
  auto session = runtime::Session::open(kPipeline, options);
  auto out = pipelines::run_edit(*session, pipelines::prepare_edit(kPipeline, settings));
  EXPECT_EQ(session->generation(), 1u) << "the guard reloaded";
  return out;
}

}  // namespace

TEST(CfgBatch, OneBatchedPassEqualsTwoAndCopiesEachStreamedWeightOnceAStep) {
  const auto options = edit_options("sequential-offload", "cuda:3GB");
  const auto batched = edit(options, pipelines::CfgBatching::always);
  const auto apart = edit(options, pipelines::CfgBatching::never);
  EXPECT_TRUE(batched.cfg_batched);
  EXPECT_FALSE(apart.cfg_batched);
  EXPECT_EQ(apart.cfg_why, "--cfg-batch never");
  const at::Tensor expected = load_tensor(fixture("qie_pipeline_tiny") / "expected.safetensors", "final_latents");
  EXPECT_LT(largest_difference(batched.final_latents, expected), 1e-3);
  EXPECT_LT(largest_difference(apart.final_latents, expected), 1e-3);
  // Sequential offload streams every block for every pass: half the bytes a step once the passes are one.
  ASSERT_EQ(batched.steps.size(), 2u);
  for (std::size_t s = 0; s < 2; ++s) {
    EXPECT_GT(batched.steps[s].streamed_bytes, 0u);
    EXPECT_NEAR(static_cast<double>(batched.steps[s].streamed_bytes) * 2,
                static_cast<double>(apart.steps[s].streamed_bytes),
                0.05 * static_cast<double>(apart.steps[s].streamed_bytes));
  }
}

TEST(CfgBatch, ABatchedStepOutOfMemoryRunsItsPassesApartBeforeTheGuardFallsBack) {
  auto options = edit_options("balanced", "cuda:3GB");
  // The fourth step is the first transformer step: the two prompts and the picture's encode come first.
  options.settings = {{"simulate-oom-at-step", "4"}};
  const auto out = edit(options, pipelines::CfgBatching::always);
  EXPECT_FALSE(out.cfg_batched);
  EXPECT_NE(out.cfg_why.find("ran out of memory"), std::string::npos) << out.cfg_why;
  EXPECT_LT(largest_difference(out.final_latents,
                               load_tensor(fixture("qie_pipeline_tiny") / "expected.safetensors", "final_latents")),
            1e-3);
}
