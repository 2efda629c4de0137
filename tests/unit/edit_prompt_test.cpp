// The edit's text-encoder input equals what diffusers' pipeline and transformers' processor made for
// the fixture's prompt and negative prompt (the template, the image's placeholder expanded per merged
// patch, tokenized).
#include <algorithm>

#include <gtest/gtest.h>

#include "core/errors.hpp"
#include "qwen_image_edit/edit_prompt.hpp"
#include "support/stored_tensors.hpp"

namespace vramguard::pipelines {
namespace {

const std::string kFixture = std::string(TEST_DATA_DIR) + "/fixtures/qie_pipeline_tiny";

TEST(EditPrompt, IdsEqualTheProcessorsForPromptAndNegativePrompt) {
  const auto tokenizer = ByteLevelBpe::from_file(kFixture + "/pipeline/tokenizer/tokenizer.json");
  const std::string expected = kFixture + "/expected.safetensors";
  const auto grid = testing::stored_tensor<std::int64_t>(expected, "prompt_processor_image_grid_thw");
  const std::int64_t image_tokens = grid[0] * grid[1] * grid[2] / 4;  // merge_size 2
  EXPECT_EQ(edit_prompt_ids(tokenizer, "make the sky stormy", {image_tokens}),
            testing::stored_tensor<std::int64_t>(expected, "prompt_processor_input_ids"));
  EXPECT_EQ(edit_prompt_ids(tokenizer, " ", {image_tokens}),
            testing::stored_tensor<std::int64_t>(expected, "negative_processor_input_ids"));
}

TEST(EditPrompt, TheImagePlaceholderBecomesOnePadPerMergedPatch) {
  const auto tokenizer = ByteLevelBpe::from_file(kFixture + "/pipeline/tokenizer/tokenizer.json");
  const auto pad = *tokenizer.id_of("<|image_pad|>");
  const auto one = edit_prompt_ids(tokenizer, "x", {1}), four = edit_prompt_ids(tokenizer, "x", {4});
  EXPECT_EQ(std::count(four.begin(), four.end(), pad), 4);
  EXPECT_EQ(four.size(), one.size() + 3);
  const auto first_pad = std::find(four.begin(), four.end(), pad);
  EXPECT_EQ(*(first_pad - 1), *tokenizer.id_of("<|vision_start|>"));
  EXPECT_EQ(*(first_pad + 4), *tokenizer.id_of("<|vision_end|>"));
}

// Edit-2509/2511: "Picture N: " before each picture's placeholder, each expanded by its own grid.
TEST(EditPrompt, SeveralPicturesAreNumberedAndExpandedEachByItsGrid) {
  const std::string plus = std::string(TEST_DATA_DIR) + "/fixtures/qie_plus_pipeline_tiny";
  const auto tokenizer = ByteLevelBpe::from_file(plus + "/pipeline/tokenizer/tokenizer.json");
  const std::string expected = plus + "/expected.safetensors";
  for (const std::string which : {"prompt", "negative"}) {
    SCOPED_TRACE(which);
    const auto grids = testing::stored_tensor<std::int64_t>(expected, which + "_processor_image_grid_thw");
    ASSERT_EQ(grids.size(), 6u);
    const std::vector<std::int64_t> tokens = {grids[0] * grids[1] * grids[2] / 4, grids[3] * grids[4] * grids[5] / 4};
    EXPECT_EQ(
        edit_prompt_ids(tokenizer, which == "prompt" ? "put the cat from picture 2 on the sofa in picture 1" : " ",
                        tokens, PictureLabels::numbered),
        testing::stored_tensor<std::int64_t>(expected, which + "_processor_input_ids"));
  }
}

TEST(EditPrompt, APromptHoldingTheImagePlaceholderIsRefused) {
  const auto tokenizer = ByteLevelBpe::from_file(kFixture + "/pipeline/tokenizer/tokenizer.json");
  EXPECT_THROW(edit_prompt_ids(tokenizer, "a <|image_pad|> here", {4}), UsageError);
}

}  // namespace
}  // namespace vramguard::pipelines
