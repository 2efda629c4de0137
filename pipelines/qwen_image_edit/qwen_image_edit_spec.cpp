// The first Qwen-Image-Edit (August 2025) as the applications see it before anything loads: diffusers'
// QwenImageEditPipeline, an image edit whose job is the prepared EditInputs (edit_inputs.hpp).
#include <memory>

#include "pipeline_registry.hpp"
#include "qwen_image_edit/edit_inputs.hpp"

namespace vramguard::pipelines {

PipelineSpec pipeline_spec_qwen_image_edit() {
  PipelineSpec spec;
  spec.name = "qwen_image_edit";
  spec.class_names = {EditInputs::kPipeline};
  spec.prepare_edit = [](const std::filesystem::path& folder,
                         const EditSettings& settings) -> std::unique_ptr<PipelineJob> {
    return std::make_unique<EditInputs>(prepare_edit(folder, settings));
  };
  return spec;
}

}  // namespace vramguard::pipelines
