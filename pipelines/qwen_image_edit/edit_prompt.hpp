#pragma once
// The text encoder's input for an edit, as diffusers' QwenImageEditPipeline builds it: the user's
// instruction inside the pipeline's chat template, the input image's placeholder expanded to one
// <|image_pad|> per merged vision patch (as Qwen2VLProcessor expands it), tokenized. The encoder's
// hidden states for the template's first 64 tokens (the system prompt) are dropped afterwards.
#include <cstdint>
#include <string>
#include <vector>

#include "text/byte_level_bpe.hpp"

namespace vramguard::pipelines {

// The template's system-prompt length, in tokens, that the pipeline drops from the hidden states
// (diffusers' prompt_template_encode_start_idx).
inline constexpr std::int64_t kEditPromptDropTokens = 64;

// The template with `instruction` in its place (diffusers' prompt_template_encode).
std::string edit_prompt_text(const std::string& instruction);

// Token ids for the instruction and an image of `image_tokens` merged patches
// (grid t*h*w / merge_size^2). Throws UsageError naming `what` for text that is not UTF-8.
std::vector<std::int64_t> edit_prompt_ids(const ByteLevelBpe& tokenizer, const std::string& instruction,
                                          std::int64_t image_tokens, const std::string& what = "the prompt");

}  // namespace vramguard::pipelines
