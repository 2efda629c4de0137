#include "qwen_image_edit/guidance_run.hpp"

#include <ATen/Functions.h>
#include <ATen/TensorOperators.h>

#include <chrono>
#include <exception>
#include <thread>

#include "vramguard/cost_model.hpp"
#include "core/errors.hpp"

namespace vramguard::pipelines {
namespace {

// Embeddings [1, n, width] and their mask [1, n] padded with zeros (masked out) to `tokens`.
std::pair<at::Tensor, at::Tensor> padded(const at::Tensor& embeds, const at::Tensor& mask, std::int64_t tokens) {
  const std::int64_t extra = tokens - embeds.size(1);
  if (extra == 0) return {embeds, mask};
  return {at::cat({embeds, at::zeros({1, extra, embeds.size(2)}, embeds.options())}, 1),
          at::cat({mask, at::zeros({1, extra}, mask.options())}, 1)};
}

}  // namespace

GuidedPrediction::GuidedPrediction(runtime::Session& session, const Stage& transformer, const EditInputs& in,
                                   bool planned_batch, at::Tensor prompt_embeds, at::Tensor prompt_mask,
                                   at::Tensor negative_embeds, at::Tensor negative_mask, at::Tensor img_shapes,
                                   runtime::Session* negative_session)
    : session_(session),
      transformer_(transformer),
      in_(in),
      prompt_embeds_(std::move(prompt_embeds)),
      prompt_mask_(std::move(prompt_mask)),
      negative_embeds_(std::move(negative_embeds)),
      negative_mask_(std::move(negative_mask)),
      img_shapes_(std::move(img_shapes)) {
  if (!negative_embeds_.defined()) return;
  if (negative_session != nullptr) {
    negative_session_ = negative_session;
    negative_transformer_ = stage_for(*negative_session, "qwenimage_transformer");
    const c10::Device there = negative_transformer_->device;
    negative_embeds_there_ = negative_embeds_.to(there, negative_transformer_->dtype);
    negative_mask_there_ = negative_mask_.to(there);
    why_ = "CFG-parallel: the negative pass runs on the second GPU at the same time";
    return;
  }
  if (in_.negative_pass_elsewhere) {  // planned for a second GPU whose load did not fit
    why_ = "CFG-parallel's second load did not fit";
    return;
  }
  if (!planned_batch) {
    why_ = in_.cfg_batching == CfgBatching::never
               ? "--cfg-batch never"
               : "the batch's activations would exceed the edit's other calls' (--cfg-batch always plans for them)";
    return;
  }
  const std::int64_t tokens = std::max(prompt_embeds_.size(1), negative_embeds_.size(1));
  const auto [prompt, prompt_mask_padded] = padded(prompt_embeds_, prompt_mask_, tokens);
  const auto [negative, negative_mask_padded] = padded(negative_embeds_, negative_mask_, tokens);
  batch_embeds_ = at::cat({prompt, negative}, 0);
  batch_mask_ = at::cat({prompt_mask_padded, negative_mask_padded}, 0);
  batched_ = true;
}

runtime::NamedTensors GuidedPrediction::inputs(const at::Tensor& hidden, const at::Tensor& timestep,
                                               const at::Tensor& img_shapes, const at::Tensor& embeds,
                                               const at::Tensor& mask) {
  return {{"hidden_states", hidden},
          {"timestep", timestep},
          {"img_shapes", img_shapes},
          {"encoder_hidden_states", embeds},
          {"encoder_hidden_states_mask", mask}};
}

at::Tensor GuidedPrediction::combine(const at::Tensor& conditional, const at::Tensor& unconditional) const {
  const at::Tensor combined = unconditional + in_.true_cfg_scale * (conditional - unconditional);
  const at::Tensor cond_norm = at::norm(conditional, 2, {-1}, true), noise_norm = at::norm(combined, 2, {-1}, true);
  return combined * (cond_norm / noise_norm);
}

at::Tensor GuidedPrediction::predict(const at::Tensor& latents, const at::Tensor& image_latents,
                                     const at::Tensor& timestep, bool check) {
  const at::Tensor hidden = at::cat({latents, image_latents}, 1).to(transformer_.dtype);
  const std::int64_t tokens = latents.size(1);
  auto pass = [&](const at::Tensor& embeds, const at::Tensor& mask, bool checked) {
    return call(session_, transformer_, "forward", inputs(hidden, timestep, img_shapes_, embeds, mask), nullptr,
                checked)
        .at("sample")
        .narrow(1, 0, tokens);
  };
  if (!negative_embeds_.defined()) return pass(prompt_embeds_, prompt_mask_, check);
  if (negative_session_ != nullptr) return predict_parallel(hidden, timestep, tokens, check);
  if (!batched_)
    return combine(pass(prompt_embeds_, prompt_mask_, check), pass(negative_embeds_, negative_mask_, check));

  // One step of the batch of two; out of memory there, both passes apart in the same step, and apart from
  // then on.
  const runtime::ComponentDescription& component = *session_.description().find(transformer_.component);
  const runtime::NamedTensors batch =
      inputs(hidden.expand({2, hidden.size(1), hidden.size(2)}).contiguous(), timestep.expand({2}).contiguous(),
             img_shapes_, batch_embeds_, batch_mask_);
  if (check) transformer_.architecture->check(component, "forward", batch);
  const std::uint64_t workspace = default_cost_constants().workspace_bytes;
  const runtime::ComputeTarget target = session_.compute_target(transformer_.component);
  const std::uint64_t together =
      transformer_.architecture->activation_bytes(component, "forward", batch, target) + workspace;
  const runtime::NamedTensors single = inputs(hidden, timestep, img_shapes_, prompt_embeds_, prompt_mask_);
  const std::uint64_t apart =
      transformer_.architecture->activation_bytes(component, "forward", single, target) + workspace;
  at::Tensor prediction;
  auto run = [&](const runtime::NamedTensors& in) {
    return transformer_.architecture->run(session_, transformer_.component, "forward", in)
        .at("sample")
        .narrow(1, 0, tokens);
  };
  session_.step(
      transformer_.component,
      [&] {
        if (batched_) {
          const at::Tensor both = run(batch);
          prediction = combine(both.narrow(0, 0, 1), both.narrow(0, 1, 1));
        } else {
          prediction =
              combine(run(single), run(inputs(hidden, timestep, img_shapes_, negative_embeds_, negative_mask_)));
        }
      },
      together,
      [&](const MemoryError& e) -> std::optional<std::uint64_t> {
        if (!batched_) return std::nullopt;  // apart too: the guard's business
        batched_ = false;
        why_ = std::string("the batched step ran out of memory (") + e.what() + ")";
        return apart;
      });
  return prediction;
}

at::Tensor GuidedPrediction::predict_parallel(const at::Tensor& hidden, const at::Tensor& timestep, std::int64_t tokens,
                                              bool check) {
  const auto started = std::chrono::steady_clock::now();
  const Stage& there = *negative_transformer_;
  // The second GPU's inputs are copied before its thread starts: it then only computes. (img_shapes stays
  // on the host, where the transformer reads it.)
  const at::Tensor hidden_there = hidden.to(there.device, there.dtype);
  const at::Tensor timestep_there = timestep.to(there.device);
  at::Tensor unconditional;
  std::exception_ptr failed;
  std::thread negative([&] {
    try {
      unconditional =
          call(*negative_session_, there, "forward",
               inputs(hidden_there, timestep_there, img_shapes_, negative_embeds_there_, negative_mask_there_), nullptr,
               check)
              .at("sample")
              .narrow(1, 0, tokens);
    } catch (...) {
      failed = std::current_exception();  // rethrown on the edit's thread, after the positive pass
    }
  });
  at::Tensor conditional;
  try {
    conditional = call(session_, transformer_, "forward",
                       inputs(hidden, timestep, img_shapes_, prompt_embeds_, prompt_mask_), nullptr, check)
                      .at("sample")
                      .narrow(1, 0, tokens);
  } catch (...) {
    negative.join();
    throw;
  }
  negative.join();
  if (failed) std::rethrow_exception(failed);
  const at::Tensor prediction = combine(conditional, unconditional.to(conditional.device(), conditional.scalar_type()));
  last_parallel_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return prediction;
}

}  // namespace vramguard::pipelines
