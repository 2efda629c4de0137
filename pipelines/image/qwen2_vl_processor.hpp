#pragma once
// transformers' Qwen2-VL image processor, as Qwen-Image-Edit's text encoder receives its image: sized
// within the processor's pixel bounds to multiples of patch * merge (smart_resize), resized bicubic
// as transformers 5's fast processor does it (resize_like_torchvision),
// scaled by 1/255 and normalized by the config's mean and std, repeated over the temporal patch, and
// flattened to one row per patch in the vision tower's order (merge groups together).
#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "image/resample.hpp"
#include "image/rgb_image.hpp"

namespace vramguard::pipelines {

struct Qwen2VlProcessorConfig {
  int patch_size = 14, merge_size = 2, temporal_patch_size = 2;
  std::int64_t min_pixels = 56 * 56, max_pixels = 28 * 28 * 1280;
  ResampleFilter resample = ResampleFilter::bicubic;  // Pillow's 3; Lanczos (1) is read too
  bool do_resize = true, do_rescale = true, do_normalize = true;
  double rescale_factor = 1.0 / 255;
  std::array<double, 3> mean{0.48145466, 0.4578275, 0.40821073}, std{0.26862954, 0.26130258, 0.27577711};

  // Reads a processor_config.json (its "image_processor" object) or a preprocessor_config.json.
  // Throws InputError naming the file and key for values of the wrong type or out of range.
  static Qwen2VlProcessorConfig from_file(const std::string& path);
};

// transformers' smart_resize: {height, width}. Throws UsageError when the aspect ratio exceeds 200.
std::pair<int, int> smart_resize(int height, int width, int factor, std::int64_t min_pixels, std::int64_t max_pixels);

struct ProcessedImage {
  std::vector<float> pixel_values;  // [patches, 3 * temporal * patch * patch]
  std::int64_t patches = 0, patch_values = 0;
  std::array<std::int64_t, 3> grid_thw{};  // temporal, height and width in patches
  std::int64_t merged_tokens() const;      // <|image_pad|> tokens the image takes in the prompt
};

ProcessedImage process_for_qwen2_vl(const RgbImage& image, const Qwen2VlProcessorConfig& config);

}  // namespace vramguard::pipelines
