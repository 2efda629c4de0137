#pragma once
// A denoising step's noise prediction with true classifier-free guidance, as diffusers' Qwen-Image-Edit
// pipelines compute it: the conditional and the unconditional (negative prompt) transformer passes,
// combined as neg + scale * (cond - neg) and rescaled to the conditional's norm per token. The two passes
// run as one over a batch of two where the plan counted them so (each streamed weight then crosses the
// link once a step): the shorter prompt's embeddings padded and masked, so that the result equals the
// two passes'. A batched step that runs out of memory runs again as two passes,
// and the rest of the edit keeps them apart, before the guard would reload with another strategy.
// On two GPUs (CFG-parallel) the negative pass runs at the same time as the positive one, in a second
// Session holding the transformer on the other GPU (its own plan: resident, or streamed through its own
// window); its prediction comes back to the first GPU, where the guidance is applied.
#include <optional>
#include <string>

#include "qwen_image_edit/edit_inputs.hpp"
#include "qwen_image_edit/edit_stage_run.hpp"

namespace vramguard::pipelines {

class GuidedPrediction {
 public:
  // The prompts' embeddings and masks on the transformer's device; negative ones undefined: no true CFG.
  // `planned_batch`: the plan counted the two passes as one batch (edit_run's plan_edit).
  // `negative_session`: the second GPU's Session (CFG-parallel), or null.
  GuidedPrediction(runtime::Session& session, const Stage& transformer, const EditInputs& in, bool planned_batch,
                   at::Tensor prompt_embeds, at::Tensor prompt_mask, at::Tensor negative_embeds,
                   at::Tensor negative_mask, at::Tensor img_shapes, runtime::Session* negative_session = nullptr);

  // The noise prediction for the packed `latents` (beside `image_latents`) at `timestep` (already / 1000).
  // `check`: the transformer's inputs are checked against its config (the first step).
  at::Tensor predict(const at::Tensor& latents, const at::Tensor& image_latents, const at::Tensor& timestep,
                     bool check);

  bool batched() const { return batched_; }
  bool parallel() const { return negative_session_ != nullptr; }
  // The wall-clock seconds of the last step's two passes on two GPUs (parallel only).
  double last_parallel_seconds() const { return last_parallel_seconds_; }
  const std::string& why() const { return why_; }  // why the passes run apart (empty: they did not)

  // The transformer's inputs for one pass: the latents beside the pictures', the prompt's embeddings.
  static runtime::NamedTensors inputs(const at::Tensor& hidden, const at::Tensor& timestep,
                                      const at::Tensor& img_shapes, const at::Tensor& embeds, const at::Tensor& mask);

 private:
  at::Tensor combine(const at::Tensor& conditional, const at::Tensor& unconditional) const;
  at::Tensor predict_parallel(const at::Tensor& hidden, const at::Tensor& timestep, std::int64_t tokens, bool check);

  runtime::Session& session_;
  const Stage& transformer_;
  const EditInputs& in_;
  at::Tensor prompt_embeds_, prompt_mask_, negative_embeds_, negative_mask_, img_shapes_;
  at::Tensor batch_embeds_, batch_mask_;  // both prompts padded to one length, [2, tokens, width]
  bool batched_ = false;
  std::string why_;
  runtime::Session* negative_session_ = nullptr;
  std::optional<Stage> negative_transformer_;               // the transformer in negative_session_
  at::Tensor negative_embeds_there_, negative_mask_there_;  // on its GPU
  double last_parallel_seconds_ = 0;
};

}  // namespace vramguard::pipelines
