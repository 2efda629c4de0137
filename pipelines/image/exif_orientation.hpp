#pragma once
// A picture's EXIF orientation, applied as diffusers' load_image applies it (PIL.ImageOps.exif_transpose):
// a phone's portrait photo is stored sideways with a tag that says how to turn it.
#include <cstddef>

#include "image/rgb_image.hpp"

namespace vramguard::pipelines {

// The orientation tag (0x0112) of EXIF data in its TIFF form ("II*\0" or "MM\0*" first): 1 to 8, or 1
// where there is none or the data is malformed (as Pillow, which then leaves the picture as it is).
int exif_orientation(const unsigned char* tiff, std::size_t bytes);

// The picture turned and flipped as `orientation` says (EXIF's values, Pillow's transposes: 2 mirror,
// 3 half turn, 4 flip, 5 transpose, 6 quarter turn clockwise, 7 transverse, 8 counter-clockwise).
RgbImage oriented(const RgbImage& image, int orientation);

}  // namespace vramguard::pipelines
