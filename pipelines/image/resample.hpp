#pragma once
// Pillow's Image.resize for 8-bit RGB, reproduced: separable convolution, horizontal pass first, each
// output pixel's window scaled with the reduction (antialiasing), coefficients normalized and held in
// 22-bit fixed point, each pass rounded back to 8 bits. The edit pipeline resizes its input twice this
// way (diffusers with Lanczos for the VAE, transformers' Qwen2-VL processor with bicubic), so the
// tensors it makes equal theirs.
#include "image/rgb_image.hpp"

namespace vramguard::pipelines {

enum class ResampleFilter { bicubic, lanczos };

RgbImage resize_like_pillow(const RgbImage& image, int width, int height, ResampleFilter filter);

// The same windows and weights as PyTorch's antialiased resize of an 8-bit image (torchvision's
// resize of a uint8 tensor, which transformers' fast image processors — the default since
// transformers 5 — use): Pillow's algorithm, but the weights held in int16 with as many fraction bits
// as the largest weight allows (Pillow keeps 22), so a few pixels come out one level apart.
RgbImage resize_like_torchvision(const RgbImage& image, int width, int height, ResampleFilter filter);

}  // namespace vramguard::pipelines
