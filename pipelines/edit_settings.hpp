#pragma once
// What a user asks of an image edit (`vramguard edit`'s options; diffusers' pipeline arguments): the
// settings every image-edit pipeline prepares its job from (pipeline_registry.hpp).
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "image/image_file.hpp"

namespace vramguard::pipelines {

// Whether the VAE encodes and decodes in overlapping tiles, as diffusers' vae.enable_tiling() makes it:
// `automatic` tiles where the plan leaves the whole picture's activations no room on the VAE's GPU,
// and after a VAE call runs out of memory (then for the rest of the edit).
enum class VaeTilingMode : std::uint8_t { automatic, always, never };

// Whether true CFG's two transformer passes of a step run as one pass over a batch of two (each streamed
// weight then crosses the link once a step, not twice): `automatic` where the batch's activations fit in
// the headroom the edit's other calls need anyway (the plan counts it so); `always` plans for the batch
// (its activations become the headroom). A batched step that runs out of memory runs its passes apart,
// and so does the rest of the edit.
enum class CfgBatching : std::uint8_t { automatic, always, never };

// diffusers' tile size and stride in picture pixels (tile_sample_min_*, tile_sample_stride_*).
struct VaeTileSize {
  int tile_pixels = 256;
  int stride_pixels = 192;
};

// A picture to edit: a file, or a file's bytes already in memory (a picture a request uploaded: it never
// touches the disk); `file` names it in messages either way.
struct PictureSource {
  PictureSource(std::filesystem::path path) : file(std::move(path)) {}  // NOLINT: a path is a picture source
  PictureSource(std::string name, std::string contents) : file(std::move(name)), bytes(std::move(contents)) {}
  std::filesystem::path file;
  std::optional<std::string> bytes;
};

// What the user asks for (`vramguard edit`'s options; diffusers' pipeline arguments).
struct EditSettings {
  std::vector<PictureSource> images;  // Picture 1..N, in the order given
  std::string prompt;
  std::optional<std::string> negative_prompt;
  double true_cfg_scale = 4.0;
  int steps = 50;
  std::uint64_t seed = 0;
  std::optional<std::filesystem::path> latents;  // the packed initial noise, instead of drawing it from the seed
  std::optional<int> height, width;              // of the result; default: the input's aspect at ~1024² pixels
  VaeTilingMode vae_tiling = VaeTilingMode::automatic;
  VaeTileSize vae_tile;
  CfgBatching cfg_batching = CfgBatching::automatic;
  std::uint64_t max_image_pixels = kDefaultMaxImagePixels;  // a larger input is refused as a decompression bomb
};

}  // namespace vramguard::pipelines
