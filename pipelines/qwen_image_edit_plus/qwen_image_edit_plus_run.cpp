// Edit-2509/2511 run by the first Edit's stages (qwen_image_edit/edit_run.hpp), which take any number
// of pictures.
#include "pipeline_runner.hpp"
#include "qwen_image_edit/edit_run.hpp"
#include "qwen_image_edit_plus/qwen_image_edit_plus.hpp"

namespace vramguard::pipelines {

PipelineRunner pipeline_runner_qwen_image_edit_plus() { return edit_pipeline_runner(kEditPlusPipeline); }

}  // namespace vramguard::pipelines
