#pragma once
// The edit's input image as the VAE takes it, as diffusers' QwenImageEditPipeline makes it: sized to
// about `target_area` pixels at the input's aspect ratio (calculate_dimensions: multiples of 32),
// resized with Lanczos (VaeImageProcessor), scaled to [-1, 1], channels first.
#include <cstdint>
#include <utility>
#include <vector>

#include "image/rgb_image.hpp"

namespace vramguard::pipelines {

// diffusers' calculate_dimensions(target_area, width / height): {width, height}, Python's rounding.
std::pair<int, int> area_dimensions(double target_area, double aspect_ratio);

struct PlanarImage {
  int width = 0, height = 0;
  std::vector<float> values;  // [3, height, width]
};

// The resized image (Lanczos) that both the VAE and the text encoder's processor start from.
RgbImage resize_for_vae(const RgbImage& image, int width, int height);

// 8-bit RGB to [3, H, W] floats in [-1, 1] (x / 255 * 2 - 1, in float32 as diffusers computes it).
PlanarImage to_vae_input(const RgbImage& image);

}  // namespace vramguard::pipelines
