// Qwen-Image's VAE (diffusers' AutoencoderKLQwenImage) on images: `encode` maps pixels in [-1, 1]
// to the latent distribution's mean, `decode` maps latents back to pixels. The model is a causal
// video VAE; an image is one frame, and on the first frame every causal convolution sees only zero
// padding before it, so each 3-D kernel reduces exactly to its last temporal slice (a 2-D
// convolution) and the temporal resamplers are not used. The layer structure (residual blocks,
// attention, resamplers) is read from the checkpoint's tensor names, as the library builds it from its
// config. Both entries take an optional `tiling` (vae_tiles.hpp): the picture runs in overlapping tiles
// when it is larger than one, as with the library's enable_tiling().
#include <ATen/Functions.h>
#include <ATen/TensorOperators.h>

#include <algorithm>
#include <cmath>
#include <optional>

#include "common/attention.hpp"
#include "common/component_config.hpp"
#include "common/named_inputs.hpp"
#include "common/tensor_shapes.hpp"
#include "core/errors.hpp"
#include "vramguard/runtime/architecture.hpp"
#include "qwenimage_vae/qwenimage_vae_layout.hpp"
#include "qwenimage_vae/vae_tiles.hpp"

namespace vramguard::runtime {
namespace {

const char* const kFamily = "qwenimage_vae";

using Layout = VaeConfig;  // as the family reads it (qwenimage_vae_config.cpp)

Layout layout_of(const ComponentDescription& component) {
  return read_vae_config(component.config, config_file_of(component));
}

// A causal 3-D convolution on one frame: its kernel's last temporal slice, padded in space as the
// library pads (kernel / 2 on each side).
at::Tensor causal_conv(const UnitScope& unit, const std::string& module, const at::Tensor& x) {
  const at::Tensor& weight = unit[module + ".weight"];
  const auto slice = weight.select(2, weight.size(2) - 1);
  return at::conv2d(x, slice, unit[module + ".bias"], 1, {slice.size(2) / 2, slice.size(3) / 2});
}

// RMS over channels (F.normalize × √C × gamma), in float32 for half-precision activations.
at::Tensor channel_rms_norm(const UnitScope& unit, const std::string& module, const at::Tensor& x) {
  const auto channels = x.size(1);
  const auto h = x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble ? x : x.to(at::kFloat);
  const auto normalized = (h / h.norm(2, {1}, true).clamp_min(1e-12)).to(x.scalar_type());
  const auto gamma = unit[module + ".gamma"].reshape({1, channels, 1, 1});
  auto out = normalized * std::sqrt(static_cast<double>(channels)) * gamma;
  if (unit.has(module + ".bias")) out = out + unit[module + ".bias"].reshape({1, channels, 1, 1});
  return out;
}

at::Tensor residual_block(const UnitScope& unit, const std::string& module, const at::Tensor& x) {
  const auto shortcut =
      unit.has(module + ".conv_shortcut.weight") ? causal_conv(unit, module + ".conv_shortcut", x) : x;
  auto h = causal_conv(unit, module + ".conv1", at::silu(channel_rms_norm(unit, module + ".norm1", x)));
  h = causal_conv(unit, module + ".conv2", at::silu(channel_rms_norm(unit, module + ".norm2", h)));
  return h + shortcut;
}

// One head over every pixel of the frame.
at::Tensor attention_block(const UnitScope& unit, const std::string& module, const at::Tensor& x) {
  const auto batch = x.size(0), channels = x.size(1), height = x.size(2), width = x.size(3);
  const auto qkv = at::conv2d(channel_rms_norm(unit, module + ".norm", x), unit[module + ".to_qkv.weight"],
                              unit[module + ".to_qkv.bias"])
                       .reshape({batch, 1, 3 * channels, height * width})
                       .permute({0, 1, 3, 2})
                       .chunk(3, -1);
  const auto attended = masked_attention(qkv[0].contiguous(), qkv[1].contiguous(), qkv[2].contiguous(), KeyMask{},
                                         1.0 / std::sqrt(static_cast<double>(channels)));
  const auto h = attended.squeeze(1).permute({0, 2, 1}).reshape({batch, channels, height, width});
  return at::conv2d(h, unit[module + ".proj.weight"], unit[module + ".proj.bias"]) + x;
}

at::Tensor downsample(const UnitScope& unit, const std::string& module, const at::Tensor& x) {
  // Zero padding on the right and at the bottom, then a stride-2 convolution.
  return at::conv2d(at::constant_pad_nd(x, {0, 1, 0, 1}, 0), unit[module + ".resample.1.weight"],
                    unit[module + ".resample.1.bias"], 2);
}

at::Tensor upsample(const UnitScope& unit, const std::string& module, const at::Tensor& x) {
  // Nearest ×2 (the library's nearest-exact equals plain nearest at an integer factor), then a 3×3 convolution.
  const auto doubled = x.repeat_interleave(2, -1).repeat_interleave(2, -2);
  return at::conv2d(doubled, unit[module + ".resample.1.weight"], unit[module + ".resample.1.bias"], 1, 1);
}

// The `tiling` input: [tile height, tile width, stride height, stride width] in picture pixels.
std::optional<VaeTiling> tiling_of(const NamedTensors& inputs) {
  const auto it = inputs.find("tiling");
  if (it == inputs.end()) return std::nullopt;
  const at::Tensor values = it->second.to(at::kCPU, at::kLong).contiguous();
  const auto* v = values.data_ptr<std::int64_t>();
  return VaeTiling{v[0], v[1], v[2], v[3]};
}

// The library tiles only a picture larger than one tile (on either side).
bool tiles(const std::optional<VaeTiling>& tiling, std::int64_t picture_height, std::int64_t picture_width) {
  return tiling && (picture_height > tiling->tile_height || picture_width > tiling->tile_width);
}

bool has_module(const UnitScope& unit, const std::string& module) {
  const std::string prefix = unit.name() + "." + module + ".";
  const auto it = unit.tensors().lower_bound(prefix);
  return it != unit.tensors().end() && it->first.compare(0, prefix.size(), prefix) == 0;
}

at::Tensor mid_block(const UnitScope& unit, const at::Tensor& input) {
  auto x = residual_block(unit, "mid_block.resnets.0", input);
  for (int i = 0; has_module(unit, "mid_block.attentions." + std::to_string(i)); ++i) {
    x = attention_block(unit, "mid_block.attentions." + std::to_string(i), x);
    x = residual_block(unit, "mid_block.resnets." + std::to_string(i + 1), x);
  }
  return x;
}

at::Tensor encoder(const UnitScope& unit, const at::Tensor& image) {
  auto x = causal_conv(unit, "conv_in", image);
  for (int i = 0; has_module(unit, "down_blocks." + std::to_string(i)); ++i) {
    const std::string module = "down_blocks." + std::to_string(i);
    if (unit.has(module + ".resample.1.weight")) x = downsample(unit, module, x);
    else if (unit.has(module + ".to_qkv.weight")) x = attention_block(unit, module, x);
    else x = residual_block(unit, module, x);
  }
  x = mid_block(unit, x);
  return causal_conv(unit, "conv_out", at::silu(channel_rms_norm(unit, "norm_out", x)));
}

at::Tensor decoder(const UnitScope& unit, const at::Tensor& latents) {
  auto x = mid_block(unit, causal_conv(unit, "conv_in", latents));
  for (int i = 0; has_module(unit, "up_blocks." + std::to_string(i)); ++i) {
    const std::string block = "up_blocks." + std::to_string(i);
    for (int r = 0; has_module(unit, block + ".resnets." + std::to_string(r)); ++r)
      x = residual_block(unit, block + ".resnets." + std::to_string(r), x);
    if (has_module(unit, block + ".upsamplers.0")) x = upsample(unit, block + ".upsamplers.0", x);
  }
  return causal_conv(unit, "conv_out", at::silu(channel_rms_norm(unit, "norm_out", x)));
}

class QwenImageVaeArchitecture final : public Architecture {
 public:
  std::string name() const override { return kFamily; }

  bool handles(const ComponentDescription& component) const override {
    return has_class(component, "AutoencoderKLQwenImage");
  }

  std::vector<EntryPoint> entries() const override {
    return {{"encode",
             {"image"},
             {"tiling"},
             {"encoded_mean"},
             {},
             "image [batch, 3, 1, height, width] in [-1, 1] -> encoded_mean [batch, z_dim, 1, height/8, width/8]; "
             "tiling [4] (optional): tile height, width, stride height, width in pixels"},
            {"decode",
             {"latents"},
             {"tiling"},
             {"decoded"},
             {},
             "latents [batch, z_dim, 1, height/8, width/8] -> decoded [batch, 3, 1, height, width] in [-1, 1]; tiling "
             "[4] (optional): as encode's"}};
  }

  void check(const ComponentDescription& c, const std::string& entry_name, const NamedTensors& inputs) const override {
    const EntryPoint e = entry(entry_name);
    check_input_names(name(), e, inputs);
    const Layout l = layout_of(c);
    // Every tensor's shape as the config makes it: base_dim, dim_mult or num_res_blocks that contradict
    // the weights were once ignored.
    check_tensor_shapes(c, qwenimage_vae_component(l).tensors,
                        "base_dim, z_dim, dim_mult, num_res_blocks, temperal_downsample");
    if (e.name == "encode") {
      require_tensors(c, name(),
                      {"encoder.conv_in.weight", "encoder.conv_out.weight", "encoder.mid_block.resnets.0.conv1.weight",
                       "encoder.norm_out.gamma", "quant_conv.weight"});
      const at::Tensor& image = floating_input(inputs, "image", 5);
      expect_size(image, "image", 1, tensor_shape(c, name(), "encoder.conv_in.weight").at(1),
                  "the encoder's input channels");
      check_frame_and_size(image, "image", l.compression());
    } else {
      require_tensors(c, name(),
                      {"post_quant_conv.weight", "decoder.conv_in.weight", "decoder.conv_out.weight",
                       "decoder.mid_block.resnets.0.conv1.weight", "decoder.norm_out.gamma"});
      const at::Tensor& latents = floating_input(inputs, "latents", 5);
      expect_size(latents, "latents", 1, tensor_shape(c, name(), "post_quant_conv.weight").at(0), "the config's z_dim");
      check_frame_and_size(latents, "latents", 1);
    }
    if (inputs.count("tiling")) check_tiling(integer_input(inputs, "tiling", 1), l.compression());
  }

  NamedTensors example_inputs(const ComponentDescription& c, const std::string& entry_name,
                              const WorkloadShape& shape) const override {
    const EntryPoint e = entry(entry_name);
    const Layout l = layout_of(c);
    const auto batch = static_cast<std::int64_t>(std::max<std::uint64_t>(1, shape.batch));
    const auto height = static_cast<std::int64_t>(shape.height ? shape.height : 1024);
    const auto width = static_cast<std::int64_t>(shape.width ? shape.width : 1024);
    if (height % l.compression() || width % l.compression())
      throw InputError("--height/--width",
                       "must be multiples of " + std::to_string(l.compression()) + " (the VAE's compression)");
    at::manual_seed(shape.seed);
    if (e.name == "encode") return {{"image", at::rand({batch, l.input_channels, 1, height, width}) * 2 - 1}};
    return {{"latents", at::randn({batch, l.z_dim, 1, height / l.compression(), width / l.compression()})}};
  }

  std::uint64_t activation_bytes(const ComponentDescription& c, const std::string& entry_name,
                                 const NamedTensors& inputs, const ComputeTarget& target) const override {
    const c10::ScalarType dtype = target.dtype;
    const Layout l = layout_of(c);
    const bool encode = entry(entry_name).name == "encode";
    const at::Tensor& input = inputs.at(encode ? "image" : "latents");
    const std::int64_t scale = encode ? 1 : l.compression();
    const std::int64_t height = input.size(3) * scale, width = input.size(4) * scale;
    const auto tiling = tiling_of(inputs);
    const bool tiled = tiles(tiling, height, width);
    // Tiled, the feature maps are one tile's; the tiles' outputs are held until they are joined.
    const std::int64_t pixels =
        tiled ? std::min(tiling->tile_height, height) * std::min(tiling->tile_width, width) : height * width;
    auto bytes = static_cast<std::int64_t>(static_cast<double>(input.size(0) * pixels) *
                                           l.activation_bytes_per_pixel(static_cast<double>(element_bytes(dtype))));
    if (tiled) {
      const std::int64_t outputs = encode ? 2 * l.z_dim * (height / l.compression()) * (width / l.compression())
                                          : l.input_channels * height * width;
      bytes += 3 * input.size(0) * outputs * element_bytes(dtype);  // the overlapping tiles, then the joined whole
    }
#if VRAMGUARD_TORCH_MAJOR < 2
    const std::int64_t mid = pixels / (l.compression() * l.compression());
    bytes += std::min(input.size(0) * mid * mid * 4, kUnfusedScoreBytes) *
             2;  // the unfused mid-block attention's scores and weights
#endif
    return static_cast<std::uint64_t>(bytes);
  }

  NamedTensors run(Session& session, const std::string& component, const std::string& entry_name,
                   const NamedTensors& inputs, const std::vector<std::string>&) const override {
    const c10::ScalarType dtype = session.dtype(component);
    const Layout l = layout_of(*session.description().find(component));
    const auto tiling = tiling_of(inputs);
    if (entry(entry_name).name == "encode") {
      const at::Tensor& image = inputs.at("image");
      const bool tiled = tiles(tiling, image.size(3), image.size(4));
      TileGrid grid = tiled ? TileGrid{} : TileGrid{{image.squeeze(2)}};
      std::pair<TileAxis, TileAxis> axes;
      if (tiled) {
        axes = encode_axes(*tiling, l.compression());
        grid = split_tiles(image.squeeze(2), axes.first, axes.second);
      }
      // Each tile through the encoder, then each through the quantizing convolution (the library runs
      // both per tile; in this order each unit is held once, whatever the window's slots).
      {
        UnitScope unit = session.unit(component, "encoder");
        for (auto& row : grid)
          for (auto& tile : row) tile = encoder(unit, tile.to(unit.device(), dtype));
      }
      {
        UnitScope quant = session.unit(component, "quant_conv");
        for (auto& row : grid)
          for (auto& tile : row) tile = causal_conv(quant, "quant_conv", tile.to(quant.device(), true));
      }
      const at::Tensor x = tiled ? join_tiles(grid, axes.first, axes.second, image.size(3) / l.compression(),
                                              image.size(4) / l.compression())
                                 : grid[0][0];
      // The latent distribution's parameters: mean, then log-variance.
      return {{"encoded_mean", x.chunk(2, 1)[0].unsqueeze(2)}};
    }
    const at::Tensor& latents = inputs.at("latents");
    at::Tensor x;
    {
      // A 1x1 convolution: the same per pixel on the whole as on each tile.
      UnitScope post = session.unit(component, "post_quant_conv");
      x = causal_conv(post, "post_quant_conv", latents.squeeze(2).to(post.device(), dtype));
    }
    UnitScope unit = session.unit(component, "decoder");
    x = x.to(unit.device(), true);
    if (!tiles(tiling, x.size(2) * l.compression(), x.size(3) * l.compression()))
      return {{"decoded", decoder(unit, x).clamp(-1.0, 1.0).unsqueeze(2)}};
    const auto [rows, columns] = decode_axes(*tiling, l.compression());
    TileGrid grid = split_tiles(x, rows, columns);
    for (auto& row : grid)
      for (auto& tile : row) tile = decoder(unit, tile);
    // (The library's tiled decode leaves the clamp to the postprocessing, which clamps the same range.)
    return {{"decoded", join_tiles(grid, rows, columns, x.size(2) * l.compression(), x.size(3) * l.compression())
                            .clamp(-1.0, 1.0)
                            .unsqueeze(2)}};
  }

 private:
  static void check_tiling(const at::Tensor& tiling, std::int64_t compression) {
    const std::string why =
        "tiling is [tile height, tile width, stride height, stride width] in pixels, e.g. diffusers' 256, 256, 192, "
        "192";
    if (tiling.size(0) != 4)
      throw InputError("input 'tiling'", "holds " + std::to_string(tiling.size(0)) + " numbers, not 4", why);
    const auto t = *tiling_of({{"tiling", tiling}});
    for (const std::int64_t v : {t.tile_height, t.tile_width, t.stride_height, t.stride_width})
      if (v <= 0 || v % compression)
        throw InputError("input 'tiling'",
                         "holds " + std::to_string(v) + "; every size must be a positive multiple of " +
                             std::to_string(compression) + " (the VAE's compression)",
                         why);
    if (t.stride_height > t.tile_height || t.stride_width > t.tile_width)
      throw InputError("input 'tiling'", "has a stride larger than its tile: tiles would leave gaps", why);
  }

  static void check_frame_and_size(const at::Tensor& t, const std::string& input, std::int64_t multiple) {
    if (t.size(2) != 1)
      throw InputError("input '" + input + "'",
                       "holds " + std::to_string(t.size(2)) + " frames; the native VAE runs images (one frame)",
                       "run videos through the Python module with diffusers' own class");
    if (t.size(3) % multiple || t.size(4) % multiple)
      throw InputError("input '" + input + "'", "is " + std::to_string(t.size(3)) + "x" + std::to_string(t.size(4)) +
                                                    "; height and width must be multiples of " +
                                                    std::to_string(multiple));
  }
};

}  // namespace

std::shared_ptr<const Architecture> make_qwenimage_vae_architecture() {
  return std::make_shared<QwenImageVaeArchitecture>();
}

}  // namespace vramguard::runtime
