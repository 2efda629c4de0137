#pragma once
// PNG and JPEG files in and out, through libpng and libjpeg(-turbo). Whatever the file holds (gray,
// palette, 16 bits, an alpha channel) comes back as 8-bit RGB, as Pillow's convert("RGB") gives it
// (alpha dropped, not blended), turned as its EXIF orientation says, as diffusers' load_image turns it.
#include <cstdint>
#include <string>

#include "image/rgb_image.hpp"

namespace vramguard::pipelines {

// Pillow's decompression-bomb limit: it refuses a picture of more pixels than this (2 x MAX_IMAGE_PIXELS).
inline constexpr std::uint64_t kDefaultMaxImagePixels = 178'956'970;

// Throws InputError naming the file: missing, not a regular file (a FIFO would never end), unreadable,
// neither PNG nor JPEG (by its first bytes), truncated or corrupt, or of more than `max_pixels` pixels
// (checked from the header, before any pixel is decoded).
RgbImage read_image(const std::string& path, std::uint64_t max_pixels = kDefaultMaxImagePixels);

// The same for a file's bytes already in memory (a picture a request uploaded, which never touches the
// disk); errors name it `name`.
RgbImage read_image_bytes(const std::string& name, const std::string& bytes,
                          std::uint64_t max_pixels = kDefaultMaxImagePixels);

// An 8-bit RGB PNG, as bytes.
std::string encode_png(const RgbImage& image);

// Writes an 8-bit RGB PNG as write_output_file writes (a new file beside the target, renamed over
// it: a failed write leaves what was there). JobError naming the file when it cannot be written;
// UsageError for a path check_output_path refuses.
void write_png(const std::string& path, const RgbImage& image);

}  // namespace vramguard::pipelines
