// The edit's text-encoder input equals what diffusers' pipeline and transformers' processor made for
// the fixture's prompt and negative prompt (the template, the image's placeholder expanded per merged
// patch, tokenized).
#include <algorithm>

#include <gtest/gtest.h>

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
  EXPECT_EQ(edit_prompt_ids(tokenizer, "make the sky stormy", image_tokens),
            testing::stored_tensor<std::int64_t>(expected, "prompt_processor_input_ids"));
  EXPECT_EQ(edit_prompt_ids(tokenizer, " ", image_tokens),
            testing::stored_tensor<std::int64_t>(expected, "negative_processor_input_ids"));
}

TEST(EditPrompt, TheImagePlaceholderBecomesOnePadPerMergedPatch) {
  const auto tokenizer = ByteLevelBpe::from_file(kFixture + "/pipeline/tokenizer/tokenizer.json");
  const auto pad = *tokenizer.id_of("<|image_pad|>");
  const auto one = edit_prompt_ids(tokenizer, "x", 1), four = edit_prompt_ids(tokenizer, "x", 4);
  EXPECT_EQ(std::count(four.begin(), four.end(), pad), 4);
  EXPECT_EQ(four.size(), one.size() + 3);
  const auto first_pad = std::find(four.begin(), four.end(), pad);
  EXPECT_EQ(*(first_pad - 1), *tokenizer.id_of("<|vision_start|>"));
  EXPECT_EQ(*(first_pad + 4), *tokenizer.id_of("<|vision_end|>"));
}

}  // namespace
}  // namespace vramguard::pipelines
