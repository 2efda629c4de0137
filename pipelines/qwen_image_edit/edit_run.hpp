#pragma once
// Runs a prepared edit (edit_inputs.hpp) in a Session holding Qwen-Image-Edit's three components, stage
// by stage as diffusers' QwenImageEditPipeline (and its Plus, for Edit-2509/2511: several pictures): the prompts
// through the text encoder (the template's system prompt dropped), the image through the VAE's encoder (normalized by
// its latents' mean and std, packed 2x2), the initial noise (from a file, or drawn from the seed with a CPU generator
// as diffusers draws it), the transformer per step (true CFG with its norm rescale) and FlowMatchEuler's update, then
// the VAE's decoder and the postprocessing. The VAE runs in tiles (diffusers' enable_tiling) where
// EditInputs::vae_tiling says so, or, automatically, where the plan leaves the whole picture's activations no room, and
// after a whole-picture call ran out of memory. Every model call is a Session step: its activations are accounted, and
// one that runs out of memory is the guard's business.
#include <atomic>
#include <functional>
#include <string>

#include "qwen_image_edit/edit_demands.hpp"
#include "qwen_image_edit/edit_inputs.hpp"
#include "qwen_image_edit/edit_outcome.hpp"
#include "vramguard/runtime/export.hpp"
#include "vramguard/runtime/session.hpp"

namespace vramguard::pipelines {

struct EditHooks {
  std::function<void(const EditStepReport&)> on_step;
  // Each stage's tensor as diffusers names it, as it is made: "prompt_embeds", "negative_prompt_embeds",
  // "image_latents" (packed), "latents" (the packed initial noise).
  std::function<void(const std::string& stage, const at::Tensor& value)> on_stage;
  const std::atomic<bool>* cancel = nullptr;
};

// What the edit's model calls need (edit_demands.hpp), predicted from their inputs' shapes: the text
// encoder per prompt, the transformer per pass, the VAE's encode and decode (in tiles unless
// --vae-tiling never). Checks each call's inputs against its component's config; InputError when a
// component the edit needs has no family that runs it.
VRAMGUARD_RUNTIME_API EditDemands
edit_demands(const runtime::ModelDescription& model, const EditInputs& inputs,
             const std::function<runtime::ComputeTarget(const std::string&)>& target_of);

// The runner of a Qwen-Image-Edit pipeline registered under `class_name` (its job an EditInputs).
struct PipelineRunner;
PipelineRunner edit_pipeline_runner(const std::string& class_name);

// Exported from the runtime library: C++ applications run an edit in their own Session.
// `negative_session` (CFG-parallel): a Session holding only the transformer, on another GPU, for true
// CFG's negative passes, run at the same time as the positive ones; the inputs' negative_pass_elsewhere
// must be set (the first Session was planned for one pass a step).
VRAMGUARD_RUNTIME_API EditOutcome run_edit(runtime::Session& session, const EditInputs& inputs,
                                           const EditHooks& hooks = {}, runtime::Session* negative_session = nullptr);

}  // namespace vramguard::pipelines
