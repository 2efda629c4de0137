#include "qwen_image_edit/edit_prompt.hpp"

#include <algorithm>

#include "core/errors.hpp"

namespace vramguard::pipelines {

std::string edit_prompt_text(const std::string& instruction) {
  // Qwen-Image-Edit's template, as its diffusers pipeline has it (the pipeline's code holds it, not a
  // config file of the model folder).
  return "<|im_start|>system\nDescribe the key features of the input image (color, shape, size, texture, objects, "
         "background), "
         "then explain how the user's text instruction should alter or modify the image. Generate a new image that "
         "meets the "
         "user's requirements while maintaining consistency with the original input where appropriate.<|im_end|>\n"
         "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>" +
         instruction + "<|im_end|>\n<|im_start|>assistant\n";
}

std::vector<std::int64_t> edit_prompt_ids(const ByteLevelBpe& tokenizer, const std::string& instruction,
                                          std::int64_t image_tokens, const std::string& what) {
  const auto pad = tokenizer.id_of("<|image_pad|>");
  if (!pad)
    throw InputError("the pipeline's tokenizer", "has no <|image_pad|> token, which the edit's template needs",
                     "use the tokenizer of the Qwen-Image-Edit folder");
  if (image_tokens < 1) throw JobError("an edit needs at least one image token (the image's merged patches)");
  // The instruction is tokenized inside the template: its first token can merge with what precedes it.
  std::vector<std::int64_t> ids = tokenizer.encode(edit_prompt_text(instruction), what);
  const auto at = std::find(ids.begin(), ids.end(), *pad);
  if (at == ids.end()) throw JobError("the edit template lost its image placeholder when tokenized");
  ids.insert(at, static_cast<std::size_t>(image_tokens - 1), *pad);
  return ids;
}

}  // namespace vramguard::pipelines
