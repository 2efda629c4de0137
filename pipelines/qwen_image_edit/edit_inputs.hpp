#pragma once
// Everything an edit needs before a model loads, made the way diffusers' QwenImageEditPipeline makes
// it, from the pipeline folder's own files (model_index.json, the tokenizer, the processor's, the
// scheduler's and each component's config) and the user's inputs: the image at the VAE's size and as
// the text encoder's patches, the prompts' token ids, the schedule, the latents' shapes. Every bad
// input is refused here, naming it, before anything loads. Libtorch-free: the CLI checks with it, the
// runtime library runs what it made (edit_run.hpp).
#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "edit_settings.hpp"
#include "pipeline_job.hpp"
#include "schedulers/flow_match_euler.hpp"

namespace vramguard::pipelines {

// The first Qwen-Image-Edit's job: everything its stages need, made and checked before anything loads.
struct EditInputs : PipelineJob {
  static constexpr const char* kPipeline = "QwenImageEditPipeline";
  std::string pipeline() const override { return kPipeline; }

  std::filesystem::path folder;
  // Sizes in pixels: the result's, and the input image's as the VAE encodes it.
  int height = 0, width = 0;
  int image_height = 0, image_width = 0;
  int vae_scale_factor = 8;           // 2^(temporal downsamplings)
  int latent_channels = 16;           // the VAE's z_dim
  int transformer_channels = 64;      // the transformer's in_channels (latent channels x 2 x 2, packed)
  std::int64_t text_hidden_size = 0;  // the text encoder's hidden size: the prompt embeddings' width
  // The VAE's input image, [1, 3, 1, image_height, image_width] in [-1, 1].
  std::vector<float> vae_image;
  // The text encoder's view of it: the processor's flattened patches and their grid.
  std::vector<float> pixel_values;
  std::int64_t patches = 0, patch_values = 0;
  std::array<std::int64_t, 3> grid_thw{};
  std::vector<std::int64_t> prompt_ids, negative_ids;  // negative_ids empty: no true CFG
  std::int64_t drop_tokens = 64;                       // the template's system prompt, dropped from the hidden states
  double true_cfg_scale = 1.0;
  std::vector<double> latents_mean, latents_std;  // the VAE's, per latent channel
  FlowMatchSchedule schedule;
  std::optional<std::filesystem::path> latents_file;
  std::uint64_t seed = 0;
  VaeTilingMode vae_tiling = VaeTilingMode::automatic;
  VaeTileSize vae_tile;
  std::vector<std::string> notes;  // what the pipeline would warn about (CFG off, sizes rounded)

  std::int64_t image_tokens() const;  // packed latent tokens of the result
  std::int64_t input_tokens() const;  // packed latent tokens of the input image
};

// Throws InputError naming the file (a folder that is not this pipeline, a missing or malformed
// config, tokenizer or image) and UsageError naming the option (a prompt longer than the text
// encoder's positions, sizes or steps out of range).
EditInputs prepare_edit(const std::filesystem::path& folder, const EditSettings& settings);

}  // namespace vramguard::pipelines
