#include "image/exif_orientation.hpp"

#include <cstdint>

namespace vramguard::pipelines {

int exif_orientation(const unsigned char* tiff, std::size_t bytes) {
  if (tiff == nullptr || bytes < 8) return 1;
  const bool little = tiff[0] == 'I' && tiff[1] == 'I';
  if (!little && !(tiff[0] == 'M' && tiff[1] == 'M')) return 1;
  auto u16 = [&](std::size_t at) -> std::uint32_t {
    const std::uint32_t first = tiff[at], second = tiff[at + 1];
    return little ? first | (second << 8) : (first << 8) | second;
  };
  auto u32 = [&](std::size_t at) -> std::uint32_t {
    return little ? u16(at) | (u16(at + 2) << 16) : (u16(at) << 16) | u16(at + 2);
  };
  if (u16(2) != 42) return 1;
  const std::uint32_t ifd = u32(4);
  if (ifd > bytes - 2) return 1;
  const std::uint32_t entries = u16(ifd);
  for (std::uint32_t i = 0; i < entries; ++i) {
    const std::size_t entry = ifd + 2 + static_cast<std::size_t>(i) * 12;
    if (entry + 12 > bytes) return 1;
    if (u16(entry) != 0x0112) continue;
    if (u16(entry + 2) != 3 || u32(entry + 4) < 1) return 1;  // a SHORT, inline
    const std::uint32_t value = u16(entry + 8);
    return value >= 1 && value <= 8 ? static_cast<int>(value) : 1;
  }
  return 1;
}

RgbImage oriented(const RgbImage& image, int orientation) {
  if (orientation < 2 || orientation > 8) return image;
  const bool swaps = orientation >= 5;  // 5-8 turn the picture a quarter: width and height trade places
  RgbImage out;
  out.width = swaps ? image.height : image.width;
  out.height = swaps ? image.width : image.height;
  out.pixels.resize(image.pixels.size());
  const int w = image.width, h = image.height;
  for (int y = 0; y < out.height; ++y)
    for (int x = 0; x < out.width; ++x) {
      // The source pixel of output (x, y), for each of Pillow's transposes.
      int sx = x, sy = y;
      switch (orientation) {
        case 2: sx = w - 1 - x; break;                  // FLIP_LEFT_RIGHT
        case 3: sx = w - 1 - x, sy = h - 1 - y; break;  // ROTATE_180
        case 4: sy = h - 1 - y; break;                  // FLIP_TOP_BOTTOM
        case 5: sx = y, sy = x; break;                  // TRANSPOSE
        case 6: sx = y, sy = h - 1 - x; break;          // ROTATE_270: a quarter turn clockwise
        case 7: sx = w - 1 - y, sy = h - 1 - x; break;  // TRANSVERSE
        case 8: sx = w - 1 - y, sy = x; break;          // ROTATE_90: a quarter turn counter-clockwise
      }
      for (int c = 0; c < 3; ++c)
        out.pixels[(static_cast<std::size_t>(y) * static_cast<std::size_t>(out.width) + static_cast<std::size_t>(x)) *
                       3 +
                   static_cast<std::size_t>(c)] = image.at(sx, sy, c);
    }
  return out;
}

}  // namespace vramguard::pipelines
