#include "qwen_image_edit/edit_inputs.hpp"

#include <algorithm>
#include <cmath>

#include "core/errors.hpp"
#include "core/path_exists.hpp"
#include "core/tensor_read.hpp"
#include "image/image_file.hpp"
#include "image/qwen2_vl_processor.hpp"
#include "image/vae_image.hpp"
#include "model/json_file.hpp"
#include "model/safetensors_header.hpp"
#include "qwen_image_edit/edit_prompt.hpp"
#include "qwen2_5_vl/qwen2_5_vl_config.hpp"
#include "qwenimage_transformer/qwenimage_transformer_config.hpp"
#include "qwenimage_vae/qwenimage_vae_config.hpp"
#include "text/byte_level_bpe.hpp"

namespace fs = std::filesystem;

namespace vramguard::pipelines {
namespace {

const char* const kPipelineHint =
    "pass a Qwen-Image-Edit folder as diffusers saves it (model_index.json, tokenizer/, processor/, "
    "scheduler/, text_encoder/, transformer/, vae/) or its Hugging Face id";

fs::path first_existing(const fs::path& folder, std::initializer_list<const char*> candidates) {
  for (const char* candidate : candidates)
    if (path_exists(folder / candidate)) return folder / candidate;
  throw InputError((folder / *candidates.begin()).string(), "is missing", kPipelineHint);
}

// Initial noise is Gaussian: a NaN, an infinity or a value of 1e30 in it once made an all-black picture
// with exit 0. Its values are read now (a few MB), before anything loads.
void check_noise_values(const std::string& file, const SafetensorsHeader& header, const SafetensorsEntry& entry) {
  const std::vector<float> values = read_floats(file, header.data_offset + entry.begin, entry.elements, entry.dtype);
  constexpr float kLargest = 1e3f;  // Gaussian noise stays within a few units
  for (const float v : values)
    if (!(std::abs(v) <= kLargest))
      throw InputError(file,
                       "'latents' holds " +
                           std::string(std::isfinite(v) ? "a value of " + std::to_string(v)
                                                        : std::string(std::isnan(v) ? "NaN" : "an infinity")) +
                           ": initial noise is Gaussian, within ±1000",
                       "pass the noise the pipeline drew (or --seed to draw it)");
}

// A picture's size at `area` pixels and its aspect, as diffusers' calculate_dimensions makes it; a
// picture so narrow that a side rounds to nothing is refused, naming it.
std::pair<int, int> sized(const RgbImage& image, double area, const fs::path& file, const char* view) {
  const auto [width, height] = area_dimensions(area, static_cast<double>(image.width) / image.height);
  if (width < 32 || height < 32)
    throw UsageError("--image " + file.string() + " is " + std::to_string(image.width) + "x" +
                         std::to_string(image.height) + " pixels: at that aspect ratio " + view + " rounds to " +
                         std::to_string(width) + "x" + std::to_string(height) + ", a picture of zero area",
                     "crop the picture to an aspect ratio nearer to square");
  return {width, height};
}

// One input picture: the VAE's view at ~1024² pixels, the text encoder's from the variant's
// condition size (the VAE's picture itself for the first Edit).
EditPicture prepare_picture(const fs::path& file, const RgbImage& image, const EditVariant& variant,
                            const Qwen2VlProcessorConfig& processor) {
  EditPicture picture;
  picture.file = file;
  std::tie(picture.vae_width, picture.vae_height) = sized(image, 1024.0 * 1024.0, file, "the VAE's ~1024² view");
  const RgbImage for_vae = resize_for_vae(image, picture.vae_width, picture.vae_height);
  picture.vae_image = to_vae_input(for_vae).values;
  ProcessedImage processed;
  if (variant.condition_area > 0) {
    const auto [width, height] = sized(image, variant.condition_area, file, "the text encoder's view");
    processed = process_for_qwen2_vl(resize_for_vae(image, width, height), processor);
  } else {
    processed = process_for_qwen2_vl(for_vae, processor);
  }
  picture.pixel_values = std::move(processed.pixel_values);
  picture.patches = processed.patches;
  picture.patch_values = processed.patch_values;
  picture.grid_thw = processed.grid_thw;
  return picture;
}

}  // namespace

std::int64_t EditInputs::image_tokens() const {
  return static_cast<std::int64_t>(height / vae_scale_factor / 2) * (width / vae_scale_factor / 2);
}
std::int64_t EditInputs::picture_tokens(const EditPicture& p) const {
  return static_cast<std::int64_t>(p.vae_height / vae_scale_factor / 2) * (p.vae_width / vae_scale_factor / 2);
}
std::int64_t EditInputs::input_tokens() const {
  std::int64_t tokens = 0;
  for (const auto& picture : pictures) tokens += picture_tokens(picture);
  return tokens;
}

EditVariant first_edit_variant() { return {EditInputs::kPipeline, 1, PictureLabels::none, 0, false}; }

EditInputs prepare_edit(const fs::path& folder, const EditSettings& settings, const EditVariant& variant) {
  EditInputs in;
  in.pipeline_class = variant.pipeline;
  in.folder = folder;
  // The folder is this pipeline.
  const fs::path index = folder / "model_index.json";
  if (!path_exists(index))
    throw InputError(folder.string(), "has no model_index.json: it is not a diffusers pipeline folder", kPipelineHint);
  const nlohmann::json pipeline = read_json_file(index);
  const std::string kind = pipeline.is_object() ? pipeline.value("_class_name", std::string()) : std::string();
  if (kind != variant.pipeline)
    throw InputError(
        index.string(),
        "names the pipeline '" + (kind.empty() ? std::string("(none)") : kind) + "', not " + variant.pipeline,
        kPipelineHint);

  // Settings that need no file.
  if (settings.steps < 1 || settings.steps > 1000)
    throw UsageError("--steps must be between 1 and 1000 (it is " + std::to_string(settings.steps) + ")");
  if (!std::isfinite(settings.true_cfg_scale) || settings.true_cfg_scale < 0 || settings.true_cfg_scale > 100)
    throw UsageError("--true-cfg-scale must be between 0 and 100");
  if (settings.prompt.empty()) throw UsageError("--prompt is empty", "say what to change in the image");
  if (settings.images.empty())
    throw UsageError("no --image given", "pass the picture to edit: --image photo.png (PNG or JPEG)");
  if (settings.images.size() > variant.max_pictures)
    throw UsageError(
        std::to_string(settings.images.size()) + " pictures given (--image), but " + variant.pipeline + " takes " +
            (variant.max_pictures == 1 ? std::string("one") : "at most " + std::to_string(variant.max_pictures)),
        variant.max_pictures == 1 ? "pass one --image, or edit with Qwen-Image-Edit-2509 or 2511, which take several"
                                  : "pass fewer pictures");
  const VaeTileSize& tile = settings.vae_tile;
  if (tile.tile_pixels < 16 || tile.tile_pixels > 16384 || tile.tile_pixels % 16)
    throw UsageError("--vae-tile-size must be a multiple of 16 between 16 and 16384 (it is " +
                         std::to_string(tile.tile_pixels) + ")",
                     "diffusers' default is 256");
  if (tile.stride_pixels < 16 || tile.stride_pixels > tile.tile_pixels || tile.stride_pixels % 16)
    throw UsageError("--vae-tile-stride must be a multiple of 16 from 16 to the tile size, " +
                         std::to_string(tile.tile_pixels) + " (it is " + std::to_string(tile.stride_pixels) + ")",
                     "tiles overlap by size - stride pixels, where they are blended; diffusers' default is 192");

  // The components' configs: what the stages' sizes come from.
  const fs::path vae_config_file = folder / "vae" / "config.json";
  const VaeConfig vae = read_vae_config(read_json_file(vae_config_file), vae_config_file.string());
  if (vae.latents_mean.empty() || vae.latents_std.empty())
    throw InputError(vae_config_file.string(),
                     "needs \"latents_mean\" and \"latents_std\" (" + std::to_string(vae.z_dim) +
                         " numbers each: the latents' statistics the pipeline normalizes with)",
                     kPipelineHint);
  in.vae_scale_factor = static_cast<int>(vae.compression());
  in.latent_channels = static_cast<int>(vae.z_dim);
  in.latents_mean = vae.latents_mean;
  in.latents_std = vae.latents_std;
  const fs::path transformer_config_file = folder / "transformer" / "config.json";
  in.transformer_channels = static_cast<int>(
      read_mmdit_config(read_json_file(transformer_config_file), transformer_config_file.string()).in_channels);
  if (in.transformer_channels != in.latent_channels * 4)
    throw InputError(transformer_config_file.string(),
                     "in_channels is " + std::to_string(in.transformer_channels) + ", but the VAE's " +
                         std::to_string(in.latent_channels) + " latent channels pack to " +
                         std::to_string(in.latent_channels * 4),
                     "the transformer and the VAE come from different models");
  const fs::path encoder_config_file = folder / "text_encoder" / "config.json";
  const Qwen2Config text =
      read_qwen2_5_vl_config(read_json_file(encoder_config_file), encoder_config_file.string()).text;
  const std::int64_t positions = text.positions;
  in.text_hidden_size = text.hidden;

  // The pictures, one at a time (a picture may be hundreds of megabytes decoded; only its resized views
  // are kept).
  const Qwen2VlProcessorConfig processor = Qwen2VlProcessorConfig::from_file(
      first_existing(folder / "processor", {"preprocessor_config.json", "processor_config.json"}).string());
  for (const auto& picture : settings.images)
    in.pictures.push_back(prepare_picture(
        picture.file,
        picture.bytes ? read_image_bytes(picture.file.string(), *picture.bytes, settings.max_image_pixels)
                      : read_image(picture.file.string(), settings.max_image_pixels),
        variant, processor));

  // The result: the given size, or the first (last, for Edit-2509/2511) picture's aspect at ~1024².
  const EditPicture& sizing = variant.size_from_last_picture ? in.pictures.back() : in.pictures.front();
  const int multiple = in.vae_scale_factor * 2;
  for (const auto& [given, name] : {std::pair{settings.height, "--height"}, std::pair{settings.width, "--width"}})
    if (given && (*given < multiple || *given > 16384))
      throw UsageError(std::string(name) + " must be between " + std::to_string(multiple) +
                       " and 16384 pixels (it is " + std::to_string(*given) + ")");
  const int height = settings.height.value_or(sizing.vae_height), width = settings.width.value_or(sizing.vae_width);
  in.height = height / multiple * multiple;
  in.width = width / multiple * multiple;
  if (in.height != height || in.width != width)
    in.notes.push_back("the result is " + std::to_string(in.width) + "x" + std::to_string(in.height) +
                       " pixels: sizes are multiples of " + std::to_string(multiple));
  for (const auto& picture : in.pictures)
    if (picture.vae_height % multiple || picture.vae_width % multiple)
      throw InputError(vae_config_file.string(),
                       "compresses pictures " + std::to_string(in.vae_scale_factor) + "x: " + picture.file.string() +
                           " at " + std::to_string(picture.vae_width) + "x" + std::to_string(picture.vae_height) +
                           " does not divide into its 2x2-packed latents",
                       "use the VAE config the model ships with");

  // The prompts, inside the template, tokenized; true CFG as the pipeline decides it.
  const ByteLevelBpe tokenizer = ByteLevelBpe::from_folder(first_existing(folder, {"tokenizer", "processor"}).string());
  std::vector<std::int64_t> picture_tokens;
  std::int64_t image_tokens = 0;
  for (const auto& picture : in.pictures) {
    picture_tokens.push_back(picture.grid_thw[0] * picture.grid_thw[1] * picture.grid_thw[2] /
                             (processor.merge_size * processor.merge_size));
    image_tokens += picture_tokens.back();
  }
  const std::string pictures_text =
      in.pictures.size() == 1 ? "the image" : "the " + std::to_string(in.pictures.size()) + " pictures";
  // A prompt too long for the encoder even at the longest tokens is refused before it is tokenized.
  auto check_length = [&](const std::string& prompt, const char* name) {
    const auto fewest = static_cast<std::int64_t>(tokenizer.fewest_tokens(prompt.size())) + image_tokens;
    if (fewest > positions)
      throw UsageError(std::string(name) + " and " + pictures_text + " take at least " + std::to_string(fewest) +
                           " tokens, more than the text encoder's " + std::to_string(positions) + " positions",
                       "shorten the prompt");
  };
  check_length(settings.prompt, "--prompt");
  if (settings.negative_prompt) check_length(*settings.negative_prompt, "--negative-prompt");
  in.prompt_ids = edit_prompt_ids(tokenizer, settings.prompt, picture_tokens, variant.labels, "--prompt");
  const bool has_negative = settings.negative_prompt.has_value();
  if (settings.true_cfg_scale > 1 && has_negative) {
    in.negative_ids =
        edit_prompt_ids(tokenizer, *settings.negative_prompt, picture_tokens, variant.labels, "--negative-prompt");
    in.true_cfg_scale = settings.true_cfg_scale;
  } else if (settings.true_cfg_scale > 1) {
    in.notes.push_back("true CFG is off: --true-cfg-scale " + std::to_string(settings.true_cfg_scale) +
                       " needs a --negative-prompt (even \" \"), as diffusers' pipeline has it");
  } else if (has_negative) {
    in.notes.push_back("--negative-prompt is not used: true CFG needs --true-cfg-scale above 1");
  }
  for (const auto& [ids, name] :
       {std::pair{&in.prompt_ids, "--prompt"}, std::pair{&in.negative_ids, "--negative-prompt"}})
    if (static_cast<std::int64_t>(ids->size()) > positions)
      throw UsageError(std::string(name) + " and " + pictures_text + " take " + std::to_string(ids->size()) +
                           " tokens, more than the text encoder's " + std::to_string(positions) + " positions",
                       "shorten the prompt");
  for (const auto* ids : {&in.prompt_ids, &in.negative_ids})
    if (!ids->empty() && static_cast<std::int64_t>(ids->size()) <= in.drop_tokens)
      throw UsageError(
          "the prompt template is shorter than the " + std::to_string(in.drop_tokens) + " tokens the pipeline drops",
          "the tokenizer is not Qwen-Image-Edit's");

  // The schedule, shifted for the result's size.
  const FlowMatchEulerConfig scheduler =
      FlowMatchEulerConfig::from_file((folder / "scheduler" / "scheduler_config.json").string());
  in.schedule = flow_match_schedule(scheduler, settings.steps, in.image_tokens());

  if (settings.latents) {
    // The noise's shape is checked from the file's header: a mismatch is found before anything loads.
    const std::string file = settings.latents->string();
    const std::vector<std::int64_t> shape = {1, in.image_tokens(), in.transformer_channels};
    const SafetensorsHeader header = read_safetensors_header(file);
    const auto entry = std::find_if(header.tensors.begin(), header.tensors.end(),
                                    [](const SafetensorsEntry& e) { return e.name == "latents"; });
    if (entry == header.tensors.end())
      throw InputError(file, "holds no tensor named 'latents'", "save the packed initial noise as 'latents'");
    const bool floating = entry->dtype == DType::F32 || entry->dtype == DType::BF16 || entry->dtype == DType::F16;
    if (entry->shape != shape || !floating)
      throw InputError(file,
                       "'latents' must be floating point of shape [1, " + std::to_string(shape[1]) + ", " +
                           std::to_string(shape[2]) + "] for a " + std::to_string(in.width) + "x" +
                           std::to_string(in.height) + " result",
                       "pass --height and --width of the size the latents were made for");
    check_noise_values(file, header, *entry);
    in.latents_file = settings.latents;
  }
  in.seed = settings.seed;
  in.vae_tiling = settings.vae_tiling;
  in.vae_tile = settings.vae_tile;
  in.cfg_batching = settings.cfg_batching;
  return in;
}

}  // namespace vramguard::pipelines
