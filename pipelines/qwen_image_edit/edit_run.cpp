#include "qwen_image_edit/edit_run.hpp"

#include <ATen/Functions.h>
#include <ATen/core/Generator.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/TensorOperators.h>

#include <algorithm>

#include "core/errors.hpp"
#include "pipeline_runner.hpp"
#include "qwen_image_edit/edit_stage_run.hpp"
#include "qwen_image_edit/guidance_run.hpp"
#include "vramguard/byte_size.hpp"
#include "vramguard/cost_model.hpp"
#include "vramguard/runtime/architecture.hpp"
#include "vramguard/runtime/named_tensor_files.hpp"
#include "vramguard/runtime/session.hpp"

namespace vramguard::pipelines {
namespace {

using runtime::NamedTensors;

at::Tensor from_floats(const std::vector<float>& values, std::vector<std::int64_t> shape) {
  return at::from_blob(const_cast<float*>(values.data()), shape, at::kFloat).clone();
}

// diffusers' _pack_latents: [batch, channels, h, w] (or with a frame axis of 1) as 2x2 patches,
// [batch, (h/2)(w/2), channels x 4].
at::Tensor pack(const at::Tensor& latents, std::int64_t channels, std::int64_t height, std::int64_t width) {
  return latents.view({1, channels, height / 2, 2, width / 2, 2})
      .permute({0, 2, 4, 1, 3, 5})
      .reshape({1, (height / 2) * (width / 2), channels * 4});
}

// diffusers' _unpack_latents, to [batch, channels, 1, h, w].
at::Tensor unpack(const at::Tensor& latents, std::int64_t height, std::int64_t width) {
  const auto channels = latents.size(2) / 4;
  return latents.view({1, height / 2, width / 2, channels, 2, 2})
      .permute({0, 3, 1, 4, 2, 5})
      .reshape({1, channels, 1, height, width});
}

at::Tensor per_channel(const std::vector<double>& values, const at::Tensor& like) {
  std::vector<float> f(values.begin(), values.end());
  return from_floats(f, {1, static_cast<std::int64_t>(f.size()), 1, 1, 1}).to(like.device(), like.scalar_type());
}

// The pictures' patches as the text encoder takes them, Picture 1's first: one tensor for both prompts.
at::Tensor pixel_values(const EditInputs& in, c10::Device device) {
  std::vector<at::Tensor> pictures;
  for (const auto& p : in.pictures) pictures.push_back(from_floats(p.pixel_values, {p.patches, p.patch_values}));
  return at::cat(pictures, 0).to(device);
}

// The text encoder's inputs for one prompt: the template's ids, the image's patches and grid.
NamedTensors encoder_inputs(const EditInputs& in, const std::vector<std::int64_t>& ids, const at::Tensor& pixels) {
  NamedTensors inputs;
  const auto length = static_cast<std::int64_t>(ids.size());
  const c10::Device device = pixels.device();
  inputs["input_ids"] = at::tensor(ids, at::kLong).view({1, length}).to(device);
  inputs["attention_mask"] = at::ones({1, length}, at::TensorOptions().dtype(at::kLong).device(device));
  inputs["pixel_values"] = pixels;
  std::vector<std::int64_t> grids;
  for (const auto& p : in.pictures) grids.insert(grids.end(), p.grid_thw.begin(), p.grid_thw.end());
  inputs["image_grid_thw"] = at::tensor(grids, at::kLong).view({static_cast<std::int64_t>(in.pictures.size()), 3});
  return inputs;
}

// Latent sizes: the result's and the input image's, in latent pixels (the VAE's 8x).
std::int64_t latent(int pixels, const EditInputs& in) { return pixels / in.vae_scale_factor; }

// img_shapes: the result first, then each input picture, each (frames, height/2, width/2).
at::Tensor image_shapes(const EditInputs& in) {
  std::vector<std::int64_t> shapes = {1, latent(in.height, in) / 2, latent(in.width, in) / 2};
  for (const auto& p : in.pictures)
    shapes.insert(shapes.end(), {1, latent(p.vae_height, in) / 2, latent(p.vae_width, in) / 2});
  return at::tensor(shapes, at::kLong).view({static_cast<std::int64_t>(in.pictures.size()) + 1, 3});
}

// encode_prompt: the template's hidden states after the final norm, its system prompt dropped; the
// mask is all ones (one prompt, no padding).
std::pair<at::Tensor, at::Tensor> encode_prompt(runtime::Session& session, const Stage& encoder, const EditInputs& in,
                                                const std::vector<std::int64_t>& ids, const at::Tensor& pixels,
                                                double* seconds) {
  const auto length = static_cast<std::int64_t>(ids.size());
  const at::Tensor hidden =
      call(session, encoder, "encode", encoder_inputs(in, ids, pixels), seconds).at("last_hidden_state");
  at::Tensor embeds = hidden.narrow(1, in.drop_tokens, length - in.drop_tokens).contiguous();
  return {embeds, at::ones({1, embeds.size(1)}, at::TensorOptions().dtype(at::kLong).device(embeds.device()))};
}

// The VAE's `tiling` input for the edit's tile size (square tiles, as diffusers' defaults).
at::Tensor tiling_input(const EditInputs& in) {
  const std::int64_t tile = in.vae_tile.tile_pixels, stride = in.vae_tile.stride_pixels;
  return at::tensor(std::vector<std::int64_t>{tile, tile, stride, stride}, at::kLong);
}

// Runs the edit's VAE calls whole or in tiles (EditInputs::vae_tiling). Automatic: in tiles where
// the whole picture's activations exceed what the loaded plan leaves on the VAE's GPU, and, once a
// whole-picture call has run out of memory, in tiles for the rest of the edit (the call runs again in
// tiles before the guard would reload with another strategy).
class VaeCalls {
 public:
  VaeCalls(runtime::Session& session, const Stage& vae, const EditInputs& in) : session_(session), vae_(vae), in_(in) {}

  NamedTensors run(const std::string& entry, const NamedTensors& inputs, std::int64_t picture_height,
                   std::int64_t picture_width, VaeCallReport& report, double* seconds) {
    const runtime::ComponentDescription& component = *session_.description().find(vae_.component);
    NamedTensors tiled_inputs = inputs;
    tiled_inputs["tiling"] = tiling_input(in_);
    vae_.architecture->check(component, entry, tiled_inputs);
    const std::uint64_t workspace = default_cost_constants().workspace_bytes;
    const runtime::ComputeTarget target = session_.compute_target(vae_.component);
    const std::uint64_t whole = vae_.architecture->activation_bytes(component, entry, inputs, target) + workspace;
    const std::uint64_t tiles = vae_.architecture->activation_bytes(component, entry, tiled_inputs, target) + workspace;
    // The library tiles only a picture larger than one tile.
    const bool can_tile = in_.vae_tiling != VaeTilingMode::never &&
                          (picture_height > in_.vae_tile.tile_pixels || picture_width > in_.vae_tile.tile_pixels);
    report = {};
    if (can_tile && in_.vae_tiling == VaeTilingMode::always) {
      report = {true, "--vae-tiling always"};
    } else if (can_tile && tile_from_now_) {
      report = {true, "an earlier VAE call ran out of memory on the whole picture"};
    } else if (can_tile) {
      const std::uint64_t room = session_.activation_room_bytes(vae_.component);
      if (whole > room)
        report = {true, "the whole picture needs " + format_bytes(whole) + " of activations; the plan leaves " +
                            format_bytes(room) + " on its GPU"};
    }
    const NamedTensors* current = report.tiled ? &tiled_inputs : &inputs;
    runtime::Session::Lighter lighter;
    if (can_tile && !report.tiled)
      lighter = [&](const MemoryError& e) -> std::optional<std::uint64_t> {
        if (current == &tiled_inputs) return std::nullopt;  // out of memory in tiles too: the guard's business
        current = &tiled_inputs;
        tile_from_now_ = true;
        report = {true, std::string("it ran out of memory on the whole picture (") + e.what() + ")"};
        return tiles;
      };
    NamedTensors out;
    session_.step(
        vae_.component, [&] { out = vae_.architecture->run(session_, vae_.component, entry, *current); },
        report.tiled ? tiles : whole, lighter);
    if (seconds) *seconds += session_.steps().back().seconds;
    return out;
  }

 private:
  runtime::Session& session_;
  const Stage& vae_;
  const EditInputs& in_;
  bool tile_from_now_ = false;
};

}  // namespace

namespace {

// What the edit's calls need, and whether true CFG's passes run as one batch: `always` plans for it;
// `automatic` where the batch's activations fit in the headroom the edit's other calls already need (the
// plan, its prediction and the run then agree); `never` keeps them apart.
struct EditPlan {
  EditDemands demands;
  bool cfg_batched = false;
};

EditPlan plan_edit(const runtime::ModelDescription& model, const EditInputs& in,
                   const std::function<runtime::ComputeTarget(const std::string&)>& target_of) {
  EditPlan plan;
  EditDemands& demands = plan.demands;
  auto bytes_of = [&](const std::string& family, const std::string& entry, const NamedTensors& inputs) {
    const auto [component, architecture] = component_for(model, family);
    architecture->check(*component, entry, inputs);
    return architecture->activation_bytes(*component, entry, inputs, target_of(component->name));
  };
  auto predict = [&](const std::string& family, const std::string& entry, const NamedTensors& inputs,
                     std::uint64_t tokens, std::uint64_t passes) {
    ComponentWork& work = demands.workload.components[component_for(model, family).first->name];
    work.tokens = std::max(work.tokens, tokens);
    work.passes = passes;
    return bytes_of(family, entry, inputs);
  };
  const bool true_cfg = !in.negative_ids.empty();
  const at::Tensor pixels = pixel_values(in, c10::Device(c10::kCPU));
  const std::uint64_t prompts = true_cfg ? 2 : 1;
  std::uint64_t others =
      predict("qwen2_5_vl", "encode", encoder_inputs(in, in.prompt_ids, pixels), in.prompt_ids.size(), prompts);
  if (true_cfg)
    others = std::max(others, predict("qwen2_5_vl", "encode", encoder_inputs(in, in.negative_ids, pixels),
                                      in.negative_ids.size(), prompts));
  // The VAE: its encode and decode run different units; in tiles unless the edit never tiles.
  // (pictures encode one at a time: the largest one's call is the encode's)
  const auto pixels_of = [](int h, int w) { return static_cast<std::uint64_t>(h) * static_cast<std::uint64_t>(w); };
  const EditPicture& largest_picture =
      *std::max_element(in.pictures.begin(), in.pictures.end(), [&](const EditPicture& a, const EditPicture& b) {
        return pixels_of(a.vae_height, a.vae_width) < pixels_of(b.vae_height, b.vae_width);
      });
  const NamedTensors encode{{"image", at::zeros({1, 3, 1, largest_picture.vae_height, largest_picture.vae_width})}};
  const NamedTensors decode{
      {"latents", at::zeros({1, in.latent_channels, 1, latent(in.height, in), latent(in.width, in)})}};
  const std::uint64_t vae_tokens =
      std::max(pixels_of(largest_picture.vae_height, largest_picture.vae_width), pixels_of(in.height, in.width));
  // Units run per job: the encoder's once per picture, the decoder's once.
  const std::uint64_t vae_calls = in.pictures.size();
  demands.whole_picture_vae_bytes = std::max(predict("qwenimage_vae", "encode", encode, vae_tokens, vae_calls),
                                             predict("qwenimage_vae", "decode", decode, vae_tokens, vae_calls));
  std::uint64_t vae_bytes = demands.whole_picture_vae_bytes;
  if (in.vae_tiling != VaeTilingMode::never) {
    NamedTensors tiled_encode = encode, tiled_decode = decode;
    tiled_encode["tiling"] = tiled_decode["tiling"] = tiling_input(in);
    vae_bytes = std::max(predict("qwenimage_vae", "encode", tiled_encode, vae_tokens, vae_calls),
                         predict("qwenimage_vae", "decode", tiled_decode, vae_tokens, vae_calls));
  }
  others = std::max(others, vae_bytes);

  // The transformer: a pass a step, two with true CFG, or one over a batch of two (each streamed weight
  // copied once a step).
  const std::int64_t text_tokens =
      static_cast<std::int64_t>(std::max(in.prompt_ids.size(), in.negative_ids.size())) - in.drop_tokens;
  const std::int64_t image_tokens = in.image_tokens() + in.input_tokens();
  auto transformer_inputs = [&](std::int64_t batch) {
    return GuidedPrediction::inputs(at::zeros({batch, image_tokens, in.transformer_channels}), at::ones({batch}),
                                    image_shapes(in), at::zeros({batch, text_tokens, in.text_hidden_size}),
                                    at::ones({batch, text_tokens}, at::kLong));
  };
  // With the negative pass on a second GPU, this GPU's transformer makes one pass a step.
  const bool apart_here = true_cfg && !in.negative_pass_elsewhere;
  if (apart_here && in.cfg_batching != CfgBatching::never)
    plan.cfg_batched = in.cfg_batching == CfgBatching::always ||
                       bytes_of("qwenimage_transformer", "forward", transformer_inputs(2)) <= others;
  const std::int64_t batch = plan.cfg_batched ? 2 : 1;
  const auto steps = static_cast<std::uint64_t>(in.schedule.timesteps.size());
  const std::uint64_t transformer = predict("qwenimage_transformer", "forward", transformer_inputs(batch),
                                            static_cast<std::uint64_t>(batch * (image_tokens + text_tokens)),
                                            steps * (apart_here && !plan.cfg_batched ? 2 : 1));
  demands.activation_bytes = std::max(others, transformer);
  if (true_cfg) {
    demands.parallel_component = component_for(model, "qwenimage_transformer").first->name;
    demands.parallel_activation_bytes =
        batch == 1 ? transformer : bytes_of("qwenimage_transformer", "forward", transformer_inputs(1));
  }
  return plan;
}

}  // namespace

EditOutcome run_edit(runtime::Session& session, const EditInputs& in, const EditHooks& hooks,
                     runtime::Session* negative_session) {
  auto cancelled = [&] {
    if (hooks.cancel && hooks.cancel->load()) throw Interrupted("the edit was interrupted");
  };
  const Stage encoder = stage_for(session, "qwen2_5_vl");
  const Stage transformer = stage_for(session, "qwenimage_transformer");
  const Stage vae = stage_for(session, "qwenimage_vae");
  VaeCalls vae_calls(session, vae, in);
  const std::size_t first_step = session.steps().size();
  EditOutcome out;

  // 1. The prompts.
  const at::Tensor pixels = pixel_values(in, encoder.device);
  auto [prompt_embeds, prompt_mask] =
      encode_prompt(session, encoder, in, in.prompt_ids, pixels, &out.text_encoder_seconds);
  const bool true_cfg = !in.negative_ids.empty();
  at::Tensor negative_embeds, negative_mask;
  if (true_cfg)
    std::tie(negative_embeds, negative_mask) =
        encode_prompt(session, encoder, in, in.negative_ids, pixels, &out.text_encoder_seconds);
  auto show = [&](const char* stage, const at::Tensor& value) {
    if (hooks.on_stage) hooks.on_stage(stage, value);
  };
  show("prompt_embeds", prompt_embeds);
  if (true_cfg) show("negative_prompt_embeds", negative_embeds);
  cancelled();
  // The pipeline's latents take the prompt embeddings' dtype (the text encoder's).
  const c10::ScalarType dtype = prompt_embeds.scalar_type();
  prompt_embeds = prompt_embeds.to(transformer.device, transformer.dtype);
  prompt_mask = prompt_mask.to(transformer.device);
  if (true_cfg) {
    negative_embeds = negative_embeds.to(transformer.device, transformer.dtype);
    negative_mask = negative_mask.to(transformer.device);
  }

  // 2. The initial noise, packed: from the file, or drawn as diffusers' randn_tensor draws it (a CPU
  // generator seeded with the seed, in the latents' dtype), then moved.
  const std::int64_t channels = in.latent_channels;
  const std::int64_t height = latent(in.height, in), width = latent(in.width, in);
  const std::vector<std::int64_t> packed_shape = {1, (height / 2) * (width / 2), channels * 4};
  at::Tensor latents;
  if (in.latents_file) {
    // prepare_edit checked the file's header; it can only differ now if it was replaced since.
    const NamedTensors file = runtime::read_named_tensors(*in.latents_file);
    const auto it = file.find("latents");
    if (it == file.end() || it->second.sizes().vec() != packed_shape)
      throw InputError(in.latents_file->string(),
                       "changed after it was checked: its 'latents' is gone or of another shape",
                       "leave the file as it is while the edit runs");
    latents = it->second.to(transformer.device, dtype);
  } else {
    at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(in.seed);
    const at::Tensor noise = at::randn({1, 1, channels, height, width}, generator, at::TensorOptions().dtype(dtype));
    // (diffusers draws it after encoding the image; the generator is the CPU's own, so the order is free)
    latents = pack(noise, channels, height, width).to(transformer.device);
  }
  show("latents", latents);
  cancelled();

  // 3. The pictures' latents: each encoded, normalized and packed, then joined in order.
  at::Tensor image_latents;
  {
    std::vector<at::Tensor> packed;
    for (const auto& picture : in.pictures) {
      NamedTensors inputs;
      inputs["image"] = from_floats(picture.vae_image, {1, 3, 1, picture.vae_height, picture.vae_width})
                            .to(vae.device, dtype)
                            .to(vae.dtype);
      VaeCallReport report;
      at::Tensor mean =
          vae_calls.run("encode", inputs, picture.vae_height, picture.vae_width, report, &out.vae_encode_seconds)
              .at("encoded_mean");
      if (report.tiled && !out.vae_encode.tiled) out.vae_encode = report;
      mean = (mean - per_channel(in.latents_mean, mean)) / per_channel(in.latents_std, mean);
      packed.push_back(pack(mean, channels, latent(picture.vae_height, in), latent(picture.vae_width, in))
                           .to(transformer.device, dtype));
    }
    image_latents = at::cat(packed, 1);
  }
  show("image_latents", image_latents);
  cancelled();

  // 4. Denoising: true CFG's two passes together where the plan has room for them (guidance_run.hpp).
  const bool planned_batch =
      plan_edit(session.description(), in, [&](const std::string& c) { return session.compute_target(c); }).cfg_batched;
  if (negative_session != nullptr && !in.negative_pass_elsewhere)
    throw JobError("an edit was given a second GPU's session without planning for it",
                   "set EditInputs::negative_pass_elsewhere before its demands are taken");
  GuidedPrediction guided(session, transformer, in, planned_batch, prompt_embeds, prompt_mask, negative_embeds,
                          negative_mask, image_shapes(in), true_cfg ? negative_session : nullptr);
  const std::size_t negative_first_step = negative_session != nullptr ? negative_session->steps().size() : 0;
  const auto steps = static_cast<int>(in.schedule.timesteps.size());
  for (int i = 0; i < steps; ++i) {
    cancelled();
    const std::size_t before = session.steps().size();
    const std::size_t negative_before = negative_session != nullptr ? negative_session->steps().size() : 0;
    const at::Tensor t = at::scalar_tensor(in.schedule.timesteps[static_cast<std::size_t>(i)], at::kFloat);
    const at::Tensor timestep = (t.expand({latents.size(0)}).to(latents.scalar_type()) / 1000).to(transformer.device);
    const at::Tensor noise_pred = guided.predict(latents, image_latents, timestep, i == 0);
    // FlowMatchEuler's step: in float32, dt = sigma_next - sigma, back to the prediction's dtype.
    const at::Tensor sigma = at::scalar_tensor(in.schedule.sigmas[static_cast<std::size_t>(i)], at::kFloat);
    const at::Tensor sigma_next = at::scalar_tensor(in.schedule.sigmas[static_cast<std::size_t>(i) + 1], at::kFloat);
    const at::Tensor dt = (sigma_next - sigma).to(noise_pred.device());
    latents = (latents.to(at::kFloat) + dt * noise_pred).to(noise_pred.scalar_type());
    EditStepReport report;
    report.step = i + 1;
    report.steps = steps;
    auto add = [&](const runtime::StepStatistics& pass) {
      report.seconds += pass.seconds;
      report.streamed_bytes += pass.streamed_bytes;
      report.compute_seconds += pass.compute_seconds;
      report.copy_wait_seconds += pass.copy_wait_seconds;
      report.unprefetched_units += pass.unprefetched_units;
      for (const auto& [device, retries] : pass.allocator_retries) report.allocator_retries += retries;
    };
    for (std::size_t s = before; s < session.steps().size(); ++s) add(session.steps()[s]);
    if (guided.parallel()) {
      // Both GPUs' passes count (their bytes, their compute); the step took as long as the two at once.
      for (std::size_t s = negative_before; s < negative_session->steps().size(); ++s)
        add(negative_session->steps()[s]);
      report.seconds = guided.last_parallel_seconds();
    }
    out.steps.push_back(report);
    if (hooks.on_step) hooks.on_step(report);
  }
  out.cfg_batched = guided.batched();
  out.cfg_why = guided.why();
  out.cfg_parallel = guided.parallel();
  {
    const at::Tensor final_latents = latents.to(at::kCPU, at::kFloat).contiguous();
    // A picture decoded from NaN or infinite latents is black, and would be written with exit 0.
    if (!at::isfinite(final_latents).all().item<bool>())
      throw JobError("the denoised latents hold NaN or infinite values: the edit's output would be meaningless",
                     "check the checkpoint's weights and the pipeline's configs (a damaged file, or one of another "
                     "model); run vramguard doctor MODEL");
    out.final_latents.assign(final_latents.data_ptr<float>(), final_latents.data_ptr<float>() + final_latents.numel());
    out.final_latents_shape = final_latents.sizes().vec();
  }
  cancelled();

  // 5. Decoded and postprocessed.
  {
    at::Tensor z = unpack(latents, height, width).to(vae.device, vae.dtype);
    const at::Tensor inverse_std =
        1.0 / from_floats(std::vector<float>(in.latents_std.begin(), in.latents_std.end()), {1, channels, 1, 1, 1})
                  .to(z.device(), z.scalar_type());
    z = z / inverse_std + per_channel(in.latents_mean, z);
    NamedTensors inputs;
    inputs["latents"] = z;
    const at::Tensor decoded =
        vae_calls.run("decode", inputs, in.height, in.width, out.vae_decode, &out.vae_decode_seconds)
            .at("decoded")
            .select(2, 0);
    const at::Tensor unit =
        (decoded / 2 + 0.5).clamp(0, 1).to(at::kCPU).permute({0, 2, 3, 1}).to(at::kFloat).contiguous();
    out.image_values.assign(unit.data_ptr<float>(), unit.data_ptr<float>() + unit.numel());
    const at::Tensor bytes = (unit * 255).round().to(at::kByte).contiguous();
    out.image.width = static_cast<int>(unit.size(2));
    out.image.height = static_cast<int>(unit.size(1));
    out.image.pixels.assign(bytes.data_ptr<std::uint8_t>(), bytes.data_ptr<std::uint8_t>() + bytes.numel());
  }
  auto fold = [](CallPeaks& into, const runtime::StepStatistics& step) {
    auto at_most = [](std::map<std::string, std::uint64_t>& most, const std::map<std::string, std::uint64_t>& of) {
      for (const auto& [device, bytes] : of) most[device] = std::max(most[device], bytes);
    };
    at_most(into.peak_bytes, step.peak_bytes);
    at_most(into.reserved_peak_bytes, step.reserved_peak_bytes);
    at_most(into.process_peak_bytes, step.process_peak_bytes);
    for (const auto& [device, bytes] : step.peak_bytes)
      into.accounted_activation_bytes[device] =
          std::max(into.accounted_activation_bytes[device], step.activation_bytes);
  };
  auto fold_steps = [&](const runtime::Session& from, std::size_t first) {
    for (std::size_t s = first; s < from.steps().size(); ++s) {
      fold(out.peaks, from.steps()[s]);
      fold(out.peaks_by_component[from.steps()[s].component], from.steps()[s]);
    }
  };
  fold_steps(session, first_step);
  if (negative_session != nullptr) fold_steps(*negative_session, negative_first_step);
  return out;
}

EditDemands edit_demands(const runtime::ModelDescription& model, const EditInputs& in,
                         const std::function<runtime::ComputeTarget(const std::string&)>& target_of) {
  return plan_edit(model, in, target_of).demands;
}

PipelineRunner edit_pipeline_runner(const std::string& class_name) {
  PipelineRunner runner;
  runner.class_names = {class_name};
  runner.demands = [](const runtime::ModelDescription& model, const PipelineJob& job,
                      const std::function<runtime::ComputeTarget(const std::string&)>& target_of) {
    return edit_demands(model, static_cast<const EditInputs&>(job), target_of);  // its registered job type
  };
  runner.run = [](runtime::Session& session, runtime::Session* parallel, const PipelineJob& job,
                  const std::function<void(const PipelineStep&)>& on_step,
                  const std::atomic<bool>* cancel) -> std::unique_ptr<PipelineOutcome> {
    return std::make_unique<EditOutcome>(
        run_edit(session, static_cast<const EditInputs&>(job), {on_step, {}, cancel}, parallel));
  };
  return runner;
}

PipelineRunner pipeline_runner_qwen_image_edit() { return edit_pipeline_runner(EditInputs::kPipeline); }

}  // namespace vramguard::pipelines
