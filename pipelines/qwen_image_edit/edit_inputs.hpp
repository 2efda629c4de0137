#pragma once
// Everything an edit needs before a model loads, made the way diffusers' Qwen-Image-Edit pipelines
// (QwenImageEditPipeline, QwenImageEditPlusPipeline) make it, from the pipeline folder's own files
// (model_index.json, the tokenizer, the processor's, the scheduler's and each component's config) and
// the user's inputs: each picture at the VAE's size and as the text encoder's patches, the prompts'
// token ids, the schedule, the latents' shapes. Every bad input is refused here, naming it, before
// anything loads. Libtorch-free: the CLI checks with it, the
// runtime library runs what it made (edit_run.hpp).
#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "edit_settings.hpp"
#include "pipeline_job.hpp"
#include "qwen_image_edit/edit_prompt.hpp"
#include "schedulers/flow_match_euler.hpp"

namespace vramguard::pipelines {

// One input picture as the edit's two models see it.
struct EditPicture {
  std::filesystem::path file;
  // The VAE's view: ~1024² pixels at the picture's aspect (Lanczos), [1, 3, 1, vae_height, vae_width]
  // in [-1, 1].
  int vae_height = 0, vae_width = 0;
  std::vector<float> vae_image;
  // The text encoder's view: the processor's flattened patches and their grid.
  std::vector<float> pixel_values;
  std::int64_t patches = 0, patch_values = 0;
  std::array<std::int64_t, 3> grid_thw{};
};

// What sets a Qwen-Image-Edit pipeline apart from the others: its class, how many pictures it takes,
// how its template names them, and the sizes it gives them. Each pipeline folder declares its own.
struct EditVariant {
  std::string pipeline;  // model_index.json's _class_name
  std::size_t max_pictures = 1;
  PictureLabels labels = PictureLabels::none;
  // The area, in pixels, of the picture the text encoder sees (its aspect kept, sides multiples of 32);
  // 0: the VAE's picture itself (the first Edit).
  double condition_area = 0;
  bool size_from_last_picture = false;  // the result's default size from the last picture (else the first)
};

// A Qwen-Image-Edit pipeline's job: everything its stages need, made and checked before anything loads.
struct EditInputs : PipelineJob {
  static constexpr const char* kPipeline = "QwenImageEditPipeline";
  std::string pipeline() const override { return pipeline_class; }

  std::string pipeline_class = kPipeline;
  std::filesystem::path folder;
  int height = 0, width = 0;          // of the result, in pixels
  std::vector<EditPicture> pictures;  // Picture 1..N, in the order given
  int vae_scale_factor = 8;           // 2^(temporal downsamplings)
  int latent_channels = 16;           // the VAE's z_dim
  int transformer_channels = 64;      // the transformer's in_channels (latent channels x 2 x 2, packed)
  std::int64_t text_hidden_size = 0;  // the text encoder's hidden size: the prompt embeddings' width
  std::vector<std::int64_t> prompt_ids, negative_ids;  // negative_ids empty: no true CFG
  std::int64_t drop_tokens = 64;                       // the template's system prompt, dropped from the hidden states
  double true_cfg_scale = 1.0;
  std::vector<double> latents_mean, latents_std;  // the VAE's, per latent channel
  FlowMatchSchedule schedule;
  std::optional<std::filesystem::path> latents_file;
  std::uint64_t seed = 0;
  VaeTilingMode vae_tiling = VaeTilingMode::automatic;
  VaeTileSize vae_tile;
  CfgBatching cfg_batching = CfgBatching::automatic;
  // The application chose CFG-parallel (a second Session holds the transformer on another GPU): the
  // demands then plan one pass a step for the first GPU's transformer, never a batch.
  bool negative_pass_elsewhere = false;
  std::vector<std::string> notes;  // what the pipeline would warn about (CFG off, sizes rounded)

  std::int64_t image_tokens() const;                        // packed latent tokens of the result
  std::int64_t picture_tokens(const EditPicture& p) const;  // packed latent tokens of one input picture
  std::int64_t input_tokens() const;                        // of every input picture
};

// The first Qwen-Image-Edit (August 2025): one picture.
EditVariant first_edit_variant();

// Throws InputError naming the file (a folder that is not this pipeline, a missing or malformed
// config, tokenizer or picture) and UsageError naming the option (a prompt longer than the text
// encoder's positions, sizes or steps out of range, more pictures than the pipeline takes).
EditInputs prepare_edit(const std::filesystem::path& folder, const EditSettings& settings,
                        const EditVariant& variant = first_edit_variant());

}  // namespace vramguard::pipelines
