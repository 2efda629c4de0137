#include "qwen_image_edit/edit_prompt.hpp"

#include <algorithm>

#include "core/errors.hpp"

namespace vramguard::pipelines {

std::string edit_prompt_text(const std::string& instruction, std::size_t pictures, PictureLabels labels) {
  const std::string placeholder = "<|vision_start|><|image_pad|><|vision_end|>";
  std::string images;
  if (labels == PictureLabels::none) {
    for (std::size_t i = 0; i < pictures; ++i) images += placeholder;
  } else {
    for (std::size_t i = 0; i < pictures; ++i) images += "Picture " + std::to_string(i + 1) + ": " + placeholder;
  }
  // Qwen-Image-Edit's template, as its diffusers pipelines have it (the pipeline's code holds it, not a
  // config file of the model folder).
  return "<|im_start|>system\nDescribe the key features of the input image (color, shape, size, texture, objects, "
         "background), "
         "then explain how the user's text instruction should alter or modify the image. Generate a new image that "
         "meets the "
         "user's requirements while maintaining consistency with the original input where appropriate.<|im_end|>\n"
         "<|im_start|>user\n" +
         images + instruction + "<|im_end|>\n<|im_start|>assistant\n";
}

std::vector<std::int64_t> edit_prompt_ids(const ByteLevelBpe& tokenizer, const std::string& instruction,
                                          const std::vector<std::int64_t>& picture_tokens, PictureLabels labels,
                                          const std::string& what) {
  const auto pad = tokenizer.id_of("<|image_pad|>");
  if (!pad)
    throw InputError("the pipeline's tokenizer", "has no <|image_pad|> token, which the edit's template needs",
                     "use the tokenizer of the Qwen-Image-Edit folder");
  if (picture_tokens.empty()) throw JobError("an edit needs at least one picture");
  for (const auto tokens : picture_tokens)
    if (tokens < 1) throw JobError("an edit needs at least one image token per picture (its merged patches)");
  // The instruction is tokenized inside the template: its first token can merge with what precedes it.
  std::vector<std::int64_t> ids = tokenizer.encode(edit_prompt_text(instruction, picture_tokens.size(), labels), what);
  // Each placeholder, in order, becomes its picture's pads. A prompt holding <|image_pad|> itself would
  // shift every picture's tokens (transformers' processor then fails on the count): refused.
  const auto placeholders = std::count(ids.begin(), ids.end(), *pad);
  if (placeholders != static_cast<std::ptrdiff_t>(picture_tokens.size()))
    throw UsageError(what + " holds <|image_pad|> itself: the template's pictures would be misplaced",
                     "remove the special token from the text");
  std::vector<std::int64_t> expanded;
  expanded.reserve(ids.size());
  std::size_t picture = 0;
  for (const auto id : ids) {
    if (id != *pad) {
      expanded.push_back(id);
      continue;
    }
    expanded.insert(expanded.end(), static_cast<std::size_t>(picture_tokens[picture++]), *pad);
  }
  return expanded;
}

}  // namespace vramguard::pipelines
