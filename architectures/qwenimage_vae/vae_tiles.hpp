#pragma once
// Tiled encoding and decoding as diffusers' enable_tiling() does it for its video VAEs (Qwen-Image's,
// Wan's): the picture is cut into overlapping tiles, each tile runs through the model alone, and the
// outputs are blended linearly where they overlap, so that activations grow with the tile, not with the
// picture. The same tiles, blends and crops as the library's tiled_encode/tiled_decode, so that the
// result equals what a diffusers pipeline with tiling enabled makes.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <vector>

namespace vramguard::runtime {

// Tile sizes in the picture's pixels (diffusers' tile_sample_min_* and tile_sample_stride_*).
struct VaeTiling {
  std::int64_t tile_height = 256, tile_width = 256;
  std::int64_t stride_height = 192, stride_width = 192;
};

// How one side of the input maps to the output's: tiles of `tile` input pixels every `stride`, each
// output tile blended into its neighbour over `blend` output pixels and cropped to `kept`.
struct TileAxis {
  std::int64_t tile = 0, stride = 0, blend = 0, kept = 0;
};

// A grid of tiles: rows top to bottom, each left to right.
using TileGrid = std::vector<std::vector<at::Tensor>>;

// diffusers' tile geometry for encoding (picture pixels in, latent pixels out) and for decoding
// (latent pixels in, picture pixels out), `compression` the VAE's spatial factor.
std::pair<TileAxis, TileAxis> encode_axes(const VaeTiling& tiling, std::int64_t compression);
std::pair<TileAxis, TileAxis> decode_axes(const VaeTiling& tiling, std::int64_t compression);

// The overlapping tiles of `input` ([batch, channels, height, width]), views into it.
TileGrid split_tiles(const at::Tensor& input, const TileAxis& rows, const TileAxis& columns);
// Each output tile blended into the one above and the one to its left (in place, in order, as the
// library does), cropped, joined, and the whole cropped to output_height x output_width.
at::Tensor join_tiles(TileGrid& tiles, const TileAxis& rows, const TileAxis& columns, std::int64_t output_height,
                      std::int64_t output_width);

}  // namespace vramguard::runtime
