// Qwen-Image-Edit-2509 and 2511 (September and December 2025): diffusers' QwenImageEditPlusPipeline.
// It runs as the first Edit does (qwen_image_edit/), with what sets it apart declared here: several
// pictures, each labelled "Picture N: " in the prompt and shown to the text encoder at ~384² pixels (to
// the VAE at ~1024², as before), the result sized from the last picture. 2511's transformer option
// zero_cond_t lives in the transformer's family (its config says it).
#include <memory>

#include "pipeline_registry.hpp"
#include "qwen_image_edit/edit_inputs.hpp"
#include "qwen_image_edit_plus/qwen_image_edit_plus.hpp"

namespace vramguard::pipelines {

EditVariant edit_plus_variant() {
  EditVariant variant;
  variant.pipeline = kEditPlusPipeline;
  // diffusers sets no limit; the text encoder's positions and the transformer's tokens grow with each
  // picture (Qwen documents one to three), so a bound keeps a mistyped glob from loading for minutes.
  variant.max_pictures = 8;
  variant.labels = PictureLabels::numbered;
  variant.condition_area = 384.0 * 384.0;  // diffusers' CONDITION_IMAGE_SIZE
  variant.size_from_last_picture = true;
  return variant;
}

PipelineSpec pipeline_spec_qwen_image_edit_plus() {
  PipelineSpec spec;
  spec.name = "qwen_image_edit_plus";
  spec.class_names = {kEditPlusPipeline};
  spec.prepare_edit = [](const std::filesystem::path& folder,
                         const EditSettings& settings) -> std::unique_ptr<PipelineJob> {
    return std::make_unique<EditInputs>(prepare_edit(folder, settings, edit_plus_variant()));
  };
  return spec;
}

}  // namespace vramguard::pipelines
