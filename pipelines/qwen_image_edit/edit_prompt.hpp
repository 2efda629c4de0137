#pragma once
// The text encoder's input for an edit, as diffusers' Qwen-Image-Edit pipelines build it: the user's
// instruction inside the pipeline's chat template, each input picture's placeholder expanded to one
// <|image_pad|> per merged vision patch (as Qwen2VLProcessor expands it), tokenized. The encoder's
// hidden states for the template's first 64 tokens (the system prompt) are dropped afterwards.
// The first Edit has one picture and no label; Edit-2509/2511 labels each "Picture N: ".
#include <cstdint>
#include <string>
#include <vector>

#include "text/byte_level_bpe.hpp"

namespace vramguard::pipelines {

// The template's system-prompt length, in tokens, that the pipeline drops from the hidden states
// (diffusers' prompt_template_encode_start_idx).
inline constexpr std::int64_t kEditPromptDropTokens = 64;

// How a pipeline puts its pictures into the template.
enum class PictureLabels : std::uint8_t {
  none,      // QwenImageEditPipeline: one placeholder, no label
  numbered,  // QwenImageEditPlusPipeline: "Picture 1: <placeholder>Picture 2: <placeholder>..."
};

// The template with `instruction` in its place and `pictures` placeholders (diffusers'
// prompt_template_encode, with its img_prompt_template for numbered pictures).
std::string edit_prompt_text(const std::string& instruction, std::size_t pictures = 1,
                             PictureLabels labels = PictureLabels::none);

// Token ids for the instruction and pictures of `picture_tokens[i]` merged patches each
// (grid t*h*w / merge_size^2), in order. Throws UsageError naming `what` for text that is not UTF-8.
std::vector<std::int64_t> edit_prompt_ids(const ByteLevelBpe& tokenizer, const std::string& instruction,
                                          const std::vector<std::int64_t>& picture_tokens,
                                          PictureLabels labels = PictureLabels::none,
                                          const std::string& what = "the prompt");

}  // namespace vramguard::pipelines
