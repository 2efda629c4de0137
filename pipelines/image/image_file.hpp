#pragma once
// PNG and JPEG files in and out, through libpng and libjpeg(-turbo). Whatever the file holds (gray,
// palette, 16 bits, an alpha channel) comes back as 8-bit RGB, as Pillow's convert("RGB") gives it:
// alpha is dropped, not blended.
#include <string>

#include "image/rgb_image.hpp"

namespace vramguard::pipelines {

// Throws InputError naming the file: missing, unreadable, neither PNG nor JPEG (by its first bytes),
// truncated or corrupt, or larger than 2^28 pixels.
RgbImage read_image(const std::string& path);

// Writes an 8-bit RGB PNG. Throws JobError naming the file when it cannot be written.
void write_png(const std::string& path, const RgbImage& image);

}  // namespace vramguard::pipelines
