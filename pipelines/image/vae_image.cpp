#include "image/vae_image.hpp"

#include <cmath>

#include "image/resample.hpp"

namespace vramguard::pipelines {

std::pair<int, int> area_dimensions(double target_area, double aspect_ratio) {
  const double width = std::sqrt(target_area * aspect_ratio);
  const double height = width / aspect_ratio;
  // Python's round() rounds halves to even, as nearbyint does in the default rounding mode.
  return {static_cast<int>(std::nearbyint(width / 32)) * 32, static_cast<int>(std::nearbyint(height / 32)) * 32};
}

RgbImage resize_for_vae(const RgbImage& image, int width, int height) {
  return resize_like_pillow(image, width, height, ResampleFilter::lanczos);
}

PlanarImage to_vae_input(const RgbImage& image) {
  PlanarImage out{
      image.width, image.height,
      std::vector<float>(static_cast<std::size_t>(image.width) * static_cast<std::size_t>(image.height) * 3)};
  const std::size_t plane = static_cast<std::size_t>(image.width) * static_cast<std::size_t>(image.height);
  for (std::size_t p = 0; p < plane; ++p)
    for (std::size_t c = 0; c < 3; ++c) {
      const float unit = static_cast<float>(image.pixels[p * 3 + c]) / 255.0f;  // pil_to_numpy: float32 / 255
      out.values[c * plane + p] = 2.0f * unit - 1.0f;                           // normalize: 2x - 1
    }
  return out;
}

}  // namespace vramguard::pipelines
