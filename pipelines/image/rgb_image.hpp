#pragma once
// An 8-bit RGB picture, rows top to bottom, pixels interleaved (R, G, B): what Pillow's
// Image.convert("RGB") holds, and what the edit pipeline's resizes take and give.
#include <cstdint>
#include <vector>

namespace vramguard::pipelines {

struct RgbImage {
  int width = 0, height = 0;
  std::vector<std::uint8_t> pixels;  // width * height * 3

  std::uint8_t at(int x, int y, int channel) const {
    return pixels[(static_cast<std::size_t>(y) * static_cast<std::size_t>(width) + static_cast<std::size_t>(x)) * 3 +
                  static_cast<std::size_t>(channel)];
  }
};

}  // namespace vramguard::pipelines
