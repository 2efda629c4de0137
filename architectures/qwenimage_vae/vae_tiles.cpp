#include "qwenimage_vae/vae_tiles.hpp"

#include <ATen/Functions.h>
#include <ATen/TensorOperators.h>

#include <algorithm>

namespace vramguard::runtime {
namespace {

// The library's blend_v / blend_h: the first `extent` rows (or columns) of `b` fade in from the last
// ones of `a`, one row at a time with a Python float weight, as it computes them.
void blend(const at::Tensor& a, at::Tensor& b, std::int64_t dim, std::int64_t extent) {
  extent = std::min({a.size(dim), b.size(dim), extent});
  for (std::int64_t y = 0; y < extent; ++y) {
    const double weight = static_cast<double>(y) / static_cast<double>(extent);
    b.select(dim, y).copy_(a.select(dim, a.size(dim) - extent + y) * (1 - weight) + b.select(dim, y) * weight);
  }
}

}  // namespace

std::pair<TileAxis, TileAxis> encode_axes(const VaeTiling& t, std::int64_t c) {
  // Tiles and strides in picture pixels; blends and crops in latent pixels, each rounded down first.
  return {{t.tile_height, t.stride_height, t.tile_height / c - t.stride_height / c, t.stride_height / c},
          {t.tile_width, t.stride_width, t.tile_width / c - t.stride_width / c, t.stride_width / c}};
}

std::pair<TileAxis, TileAxis> decode_axes(const VaeTiling& t, std::int64_t c) {
  return {{t.tile_height / c, t.stride_height / c, t.tile_height - t.stride_height, t.stride_height},
          {t.tile_width / c, t.stride_width / c, t.tile_width - t.stride_width, t.stride_width}};
}

TileGrid split_tiles(const at::Tensor& input, const TileAxis& rows, const TileAxis& columns) {
  TileGrid grid;
  const std::int64_t height = input.size(2), width = input.size(3);
  for (std::int64_t i = 0; i < height; i += rows.stride) {
    auto& row = grid.emplace_back();
    for (std::int64_t j = 0; j < width; j += columns.stride)
      row.push_back(
          input.narrow(2, i, std::min(rows.tile, height - i)).narrow(3, j, std::min(columns.tile, width - j)));
  }
  return grid;
}

at::Tensor join_tiles(TileGrid& tiles, const TileAxis& rows, const TileAxis& columns, std::int64_t output_height,
                      std::int64_t output_width) {
  std::vector<at::Tensor> joined_rows;
  for (std::size_t i = 0; i < tiles.size(); ++i) {
    std::vector<at::Tensor> kept;
    for (std::size_t j = 0; j < tiles[i].size(); ++j) {
      at::Tensor& tile = tiles[i][j];
      if (i > 0) blend(tiles[i - 1][j], tile, 2, rows.blend);
      if (j > 0) blend(tiles[i][j - 1], tile, 3, columns.blend);
      kept.push_back(
          tile.narrow(2, 0, std::min(rows.kept, tile.size(2))).narrow(3, 0, std::min(columns.kept, tile.size(3))));
    }
    joined_rows.push_back(at::cat(kept, 3));
  }
  const at::Tensor whole = at::cat(joined_rows, 2);
  return whole.narrow(2, 0, std::min(output_height, whole.size(2)))
      .narrow(3, 0, std::min(output_width, whole.size(3)))
      .contiguous();
}

}  // namespace vramguard::runtime
