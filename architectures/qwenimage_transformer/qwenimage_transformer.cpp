// Qwen-Image's MMDiT (diffusers' QwenImageTransformer2DModel): packed image latents and prompt
// embeddings in, the flow prediction for every image token out. Two streams (image and text), each
// block modulated by the timestep (AdaLN), joined in one attention over text then image tokens with
// the text's padding masked, under a 3-axis rotary embedding (frame, height, width) for the images
// and a diagonal one for the text.
#include <ATen/Functions.h>
#include <ATen/TensorOperators.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>

#include "common/attention.hpp"
#include "common/component_config.hpp"
#include "common/head_norm_rotary.hpp"
#include "common/host_to_device.hpp"
#include "common/named_inputs.hpp"
#include "common/per_device.hpp"
#include "common/tensor_shapes.hpp"
#include "core/errors.hpp"
#include "vramguard/runtime/architecture.hpp"
#include "vramguard/runtime/linear_input.hpp"
#include "qwenimage_transformer/qwenimage_transformer_layout.hpp"

namespace vramguard::runtime {
namespace {

const char* const kFamily = "qwenimage_transformer";

// The config as the family reads it (qwenimage_transformer_config.cpp), and the variants diffusers'
// class runs that this implementation refuses rather than runs wrong.
using Layout = MmditConfig;

Layout layout_of(const ComponentDescription& component) {
  Layout l = read_mmdit_config(component.config, config_file_of(component));
  if (!l.unimplemented_variant.empty())
    throw InputError(
        config_file_of(component),
        "sets \"" + l.unimplemented_variant + "\", a Qwen-Image variant the native transformer does not implement",
        "run it through the Python module (vramguard.apply) with diffusers' own class");
  return l;
}

std::string block_name(std::int64_t i) { return "transformer_blocks." + std::to_string(i); }

// Every Linear through the unit, so that a LoRA adapting it applies (UnitScope::linear).
at::Tensor linear(const UnitScope& unit, const std::string& module, const at::Tensor& x) {
  return unit.linear(module, x);
}

at::Tensor layer_norm(const at::Tensor& x) { return at::layer_norm(x, {x.size(-1)}, {}, {}, 1e-6); }

// The sinusoidal timestep embedding (256 channels, cos first, timesteps × 1000), in float32.
at::Tensor timestep_projection(const at::Tensor& timestep) {
  constexpr std::int64_t half = 128;
  const auto exponent =
      at::arange(0, half, timestep.options().dtype(at::kFloat)) * (-std::log(10000.0) / static_cast<double>(half));
  const auto frequencies = at::exp(exponent).to(timestep.scalar_type());
  const auto angles = timestep.unsqueeze(1).to(at::kFloat) * frequencies.unsqueeze(0).to(at::kFloat) * 1000.0;
  return at::cat({at::cos(angles), at::sin(angles)}, -1);
}

// Rotation angles [tokens, head_dim / 2] for each image token and each text token. Images are
// numbered by their place in img_shapes along the frame axis and centred on height and width; text
// tokens continue on the diagonal after the largest image's half-extent.
struct Rotary {
  at::Tensor image_cos, image_sin, text_cos, text_sin;  // float32, [tokens, head_dim / 2]
};

at::Tensor axis_angles(const at::Tensor& positions, std::int64_t dim) {
  const auto options = positions.options();
  const auto inverse = 1.0 / at::pow(10000.0, at::arange(0, dim, 2, options) / static_cast<double>(dim));
  return at::outer(positions, inverse);
}

// Made on `device` from the sizes alone: nothing is copied from the host.
Rotary rotary(const Layout& l, const at::Tensor& img_shapes, std::int64_t text_tokens, c10::Device device) {
  const auto options = at::TensorOptions().dtype(at::kFloat).device(device);
  std::vector<at::Tensor> frames, rows, columns;
  std::int64_t largest_half = 0;
  const auto shapes = img_shapes.to(at::kCPU, at::kLong).contiguous();
  const auto* s = shapes.data_ptr<std::int64_t>();
  for (std::int64_t image = 0; image < shapes.size(0); ++image) {
    const std::int64_t f = s[3 * image], h = s[3 * image + 1], w = s[3 * image + 2];
    const auto frame = at::arange(image, image + f, options);
    const auto row = at::arange(-(h - h / 2), h / 2, options);
    const auto column = at::arange(-(w - w / 2), w / 2, options);
    frames.push_back(frame.view({f, 1, 1}).expand({f, h, w}).reshape(-1));
    rows.push_back(row.view({1, h, 1}).expand({f, h, w}).reshape(-1));
    columns.push_back(column.view({1, 1, w}).expand({f, h, w}).reshape(-1));
    largest_half = std::max({largest_half, h / 2, w / 2});
  }
  const auto image_angles =
      at::cat({axis_angles(at::cat(frames), l.axes_dims_rope[0]), axis_angles(at::cat(rows), l.axes_dims_rope[1]),
               axis_angles(at::cat(columns), l.axes_dims_rope[2])},
              -1);
  const auto text_positions = at::arange(largest_half, largest_half + text_tokens, options);
  const auto text_angles =
      at::cat({axis_angles(text_positions, l.axes_dims_rope[0]), axis_angles(text_positions, l.axes_dims_rope[1]),
               axis_angles(text_positions, l.axes_dims_rope[2])},
              -1);
  return {image_angles.cos(), image_angles.sin(), text_angles.cos(), text_angles.sin()};
}

struct Modulation {
  at::Tensor shift, scale, gate;  // [batch, 1, inner]
};

// shift, scale and gate for the attention (first) and the MLP (second) of one stream.
std::pair<Modulation, Modulation> modulations(const UnitScope& block, const std::string& module,
                                              const at::Tensor& temb) {
  const auto chunks = linear(block, module + ".1", at::silu(temb)).unsqueeze(1).chunk(6, -1);
  return {{chunks[0], chunks[1], chunks[2]}, {chunks[3], chunks[4], chunks[5]}};
}

// The image stream's modulation: one for every token, or under zero_cond_t one for the target's tokens
// (the first target_tokens) and another for the input pictures' after them, as diffusers' modulate_index
// selects them. Applied range by range, the selection costs no [tokens, inner] tensor of its own.
struct ImageModulation {
  Modulation target, pictures;  // pictures: unset without zero_cond_t
  std::int64_t target_tokens = 0;
};

ImageModulation image_modulation(const Modulation& m, std::int64_t batch, std::int64_t target_tokens) {
  if (target_tokens < 0) return {m, {}, 0};
  auto half = [&](std::int64_t first) {
    return Modulation{m.shift.narrow(0, first, batch), m.scale.narrow(0, first, batch), m.gate.narrow(0, first, batch)};
  };
  return {half(0), half(batch), target_tokens};
}

// Applies `each(tokens, modulation)` to the target's tokens and the pictures' and joins the results.
template <class Each>
at::Tensor by_range(const at::Tensor& x, const ImageModulation& m, Each each) {
  if (!m.pictures.shift.defined()) return each(x, m.target, 0);
  const auto n = m.target_tokens;
  return at::cat({each(x.narrow(1, 0, n), m.target, 0), each(x.narrow(1, n, x.size(1) - n), m.pictures, n)}, 1);
}

// shift + norm(x) × (1 + scale), made once for the Linears that read it (linear_input.hpp): by the ops, or
// under fp8 matmuls in the pass that quantizes it.
ModulatedNorm modulated_norm(const at::Tensor& x, const Modulation& m) {
  return {x, m.shift, m.scale, 1e-6, -1, {}, {}};
}

ModulatedNorm modulated_norm(const at::Tensor& x, const ImageModulation& m) {
  if (!m.pictures.shift.defined()) return modulated_norm(x, m.target);
  return {x, m.target.shift, m.target.scale, 1e-6, m.target_tokens, m.pictures.shift, m.pictures.scale};
}

// x + gate * y, each token range with its own gate.
at::Tensor gated_add(const at::Tensor& x, const ImageModulation& m, const at::Tensor& y) {
  return by_range(x, m, [&](const at::Tensor& part, const Modulation& mod, std::int64_t first) {
    return at::addcmul(part, mod.gate, y.narrow(1, first, part.size(1)));
  });
}

at::Tensor feed_forward(const UnitScope& block, const std::string& module, PreparedLinearInput x) {
  return block.linear(module + ".net.2", block.linear(module + ".net.0.proj", x), LinearInput::gelu_tanh);
}

struct Streams {
  at::Tensor image, text;
};

// Whether every MLP's down-projection is an fp8 matmul here: its input, the GELU of the hidden layer,
// is then held as fp8 rows, not in the compute dtype (feed_forward, LinearInput::gelu_tanh).
bool mlp_gelu_in_fp8(const ComponentDescription& c, const ComputeTarget& target) {
  if (!target.fused_kernels || target.fp8_matmul_weights.empty()) return false;
  bool any = false;
  for (const auto& unit : c.units)
    for (const auto& tensor : unit.tensors)
      if (tensor.name.ends_with("mlp.net.2.weight")) {
        if (!target.fp8_matmul_weights.count(tensor.name)) return false;
        any = true;
      }
  return any;
}

// The timestep's embedding for each stream: under zero_cond_t the image's holds the step's rows then
// timestep 0's, and the text takes the step's.
struct TimeEmbedding {
  at::Tensor image, text;
  std::int64_t target_tokens = -1;  // zero_cond_t: the target's tokens; -1 without it
};

Streams transformer_block(const Layout& l, const UnitScope& block, Streams in, const TimeEmbedding& temb,
                          const KeyMask& key_mask, const Rotary& rope) {
  const auto batch = in.image.size(0);
  const auto [image_attention, image_mlp] = modulations(block, "img_mod", temb.image);
  const ImageModulation image_attention_mod = image_modulation(image_attention, batch, temb.target_tokens);
  const ImageModulation image_mlp_mod = image_modulation(image_mlp, batch, temb.target_tokens);
  const auto [text_attention_mod, text_mlp_mod] = modulations(block, "txt_mod", temb.text);

  at::Tensor q, k, v;
  {  // the modulated inputs live until q, k and v are made
    PreparedLinearInput image_in(modulated_norm(in.image, image_attention_mod));
    PreparedLinearInput text_in(modulated_norm(in.text, text_attention_mod));
    auto heads = [&](const std::string& projection, PreparedLinearInput& x) {
      return block.linear("attn." + projection, x).view({x.input().size(0), x.input().size(1), l.heads, l.head_dim});
    };
    // Image first, then text (diffusers joins text first; attention is the same over either order): the
    // order the mask and the split below assume. A padded prompt's padding is then the sequence's end,
    // so that a sample of a batch attends over the first of the keys, a view, rather than a gather.
    q = norm_rotate_join(
            {{heads("to_q", image_in), block["attn.norm_q.weight"], rope.image_cos, rope.image_sin},
             {heads("add_q_proj", text_in), block["attn.norm_added_q.weight"], rope.text_cos, rope.text_sin}},
            1e-6)
            .transpose(1, 2);
    k = norm_rotate_join(
            {{heads("to_k", image_in), block["attn.norm_k.weight"], rope.image_cos, rope.image_sin},
             {heads("add_k_proj", text_in), block["attn.norm_added_k.weight"], rope.text_cos, rope.text_sin}},
            1e-6)
            .transpose(1, 2);
    v = at::cat({heads("to_v", image_in), heads("add_v_proj", text_in)}, 1).transpose(1, 2);
  }
  at::Tensor image_attention_out, text_attention;
  {  // the attention's answer lives until the output projections have read it, not through the MLP
    const auto streams = joint_attention(q, k, v, key_mask, 1.0 / std::sqrt(static_cast<double>(l.head_dim)),
                                         {in.image.size(1), in.text.size(1)});
    q = k = v = at::Tensor();
    image_attention_out = linear(block, "attn.to_out.0", streams[0]);
    text_attention = linear(block, "attn.to_add_out", streams[1]);
  }

  Streams out;
  out.image = gated_add(in.image, image_attention_mod, image_attention_out);
  out.text = at::addcmul(in.text, text_attention_mod.gate, text_attention);
  out.image = gated_add(out.image, image_mlp_mod,
                        feed_forward(block, "img_mlp", PreparedLinearInput(modulated_norm(out.image, image_mlp_mod))));
  out.text = at::addcmul(out.text, text_mlp_mod.gate,
                         feed_forward(block, "txt_mlp", PreparedLinearInput(modulated_norm(out.text, text_mlp_mod))));
  if (out.image.scalar_type() == at::kHalf) {  // as diffusers: keep fp16 finite
    out.image = out.image.clamp(-65504, 65504);
    out.text = out.text.clamp(-65504, 65504);
  }
  return out;
}

class QwenImageTransformerArchitecture final : public Architecture {
 public:
  std::string name() const override { return kFamily; }

  bool handles(const ComponentDescription& component) const override {
    return has_class(component, "QwenImageTransformer2DModel");
  }

  std::vector<EntryPoint> entries() const override {
    return {
        {"forward",
         {"hidden_states", "encoder_hidden_states", "timestep", "img_shapes"},
         {"encoder_hidden_states_mask"},
         {"sample"},
         {"block0_hidden", "block0_encoder"},
         "packed latents [batch, image tokens, in_channels], prompt embeddings [batch, text tokens, "
         "joint_attention_dim], "
         "their mask [batch, text tokens] (0 = padding), timestep [batch] in [0, 1], img_shapes [images, 3] (frames, "
         "height/2, width/2 in latents; the edit's target first) -> sample [batch, image tokens, patch^2 x "
         "out_channels]"}};
  }

  void check(const ComponentDescription& c, const std::string& entry_name, const NamedTensors& inputs) const override {
    check_input_names(name(), entry(entry_name), inputs);
    const Layout l = layout_of(c);
    // The blocks counted before the layout is made: a "num_layers" of 10^9 against two blocks once listed
    // 10^10 tensor names first, without bound. Each block's tensors are the layout's (below).
    if (l.layers > 0 && !has_tensor(c, block_name(0) + ".img_mod.1.weight"))
      refuse_checkpoint_without_blocks(c, block_name(0) + ".img_mod.1.weight");
    for (std::int64_t i = 1; i < l.layers; ++i)
      if (!has_tensor(c, block_name(i) + ".img_mod.1.weight"))
        throw InputError(c.config_file,
                         "\"num_layers\" is " + std::to_string(l.layers) + " but the checkpoint holds " +
                             std::to_string(i) + " blocks",
                         "the config and the weights are of different models");
    if (has_tensor(c, block_name(l.layers) + ".img_mod.1.weight"))
      throw InputError(c.config_file,
                       "\"num_layers\" is " + std::to_string(l.layers) + " but the checkpoint holds more blocks",
                       "the config and the weights are of different models");
    // Every tensor, and its shape, as the config makes it: the layout is the one list of the family's
    // tensors (a transposed weight once ran into a raw matmul error).
    check_tensor_shapes(c, qwenimage_transformer_component(l).tensors,
                        "num_layers, num_attention_heads, attention_head_dim, joint_attention_dim, in_channels, "
                        "out_channels, patch_size");

    const at::Tensor& hidden = floating_input(inputs, "hidden_states", 3);
    const at::Tensor& text = floating_input(inputs, "encoder_hidden_states", 3);
    const at::Tensor& timestep = floating_input(inputs, "timestep", 1);
    const at::Tensor& shapes = integer_input(inputs, "img_shapes", 2);
    const auto batch = hidden.size(0);
    expect_size(hidden, "hidden_states", 2, l.in_channels, "the config's in_channels");
    expect_size(text, "encoder_hidden_states", 0, batch, "the batch of hidden_states");
    expect_size(text, "encoder_hidden_states", 2, l.joint_dim, "the config's joint_attention_dim");
    if (timestep.size(0) != 1) expect_size(timestep, "timestep", 0, batch, "one per sample (or one for all)");
    expect_size(shapes, "img_shapes", 1, 3, "(frames, height, width) per image");
    const auto s = shapes.to(at::kLong);
    if (s.min().item<std::int64_t>() <= 0) throw InputError("input 'img_shapes'", "holds a size that is not positive");
    const auto tokens = s.prod(1).sum().item<std::int64_t>();
    expect_size(hidden, "hidden_states", 1, tokens,
                "the image tokens img_shapes describes (the sum of frames x height x width)");
    if (inputs.count("encoder_hidden_states_mask")) {
      const at::Tensor& mask = integer_input(inputs, "encoder_hidden_states_mask", 2, /*bool_ok=*/true);
      expect_size(mask, "encoder_hidden_states_mask", 0, batch, "the batch of hidden_states");
      expect_size(mask, "encoder_hidden_states_mask", 1, text.size(1), "the text tokens of encoder_hidden_states");
    }
  }

  NamedTensors example_inputs(const ComponentDescription& c, const std::string& entry_name,
                              const WorkloadShape& shape) const override {
    entry(entry_name);
    const Layout l = layout_of(c);
    // Pixels → latents (the VAE's 8×) → patches (2×): an edit holds its target and its input image.
    const std::int64_t height = static_cast<std::int64_t>(shape.height ? shape.height : 1024) / (8 * l.patch);
    const std::int64_t width = static_cast<std::int64_t>(shape.width ? shape.width : 1024) / (8 * l.patch);
    if (height < 1 || width < 1)
      throw InputError("--height/--width", "must be at least " + std::to_string(8 * l.patch) + " pixels");
    const auto batch = static_cast<std::int64_t>(std::max<std::uint64_t>(1, shape.batch));
    const auto text = static_cast<std::int64_t>(shape.tokens ? shape.tokens : 200);
    at::manual_seed(shape.seed);
    NamedTensors in;
    in["hidden_states"] = at::randn({batch, 2 * height * width, l.in_channels});
    in["encoder_hidden_states"] = at::randn({batch, text, l.joint_dim});
    in["encoder_hidden_states_mask"] = at::ones({batch, text}, at::kLong);
    in["timestep"] = at::full({batch}, 0.5);
    in["img_shapes"] = at::tensor(std::vector<std::int64_t>{1, height, width, 1, height, width}).view({2, 3});
    return in;
  }

  std::uint64_t activation_bytes(const ComponentDescription& c, const std::string&, const NamedTensors& inputs,
                                 const ComputeTarget& target) const override {
    const c10::ScalarType dtype = target.dtype;
    const Layout l = layout_of(c);
    const auto& hidden = inputs.at("hidden_states");
    const std::int64_t batch = hidden.size(0);
    const std::int64_t tokens = hidden.size(1) + inputs.at("encoder_hidden_states").size(1);
    auto bytes = static_cast<std::int64_t>(static_cast<double>(batch * tokens) *
                                           l.activation_bytes_per_token(static_cast<double>(element_bytes(dtype)),
                                                                        norm_rotate_join_fuses(target, l.head_dim),
                                                                        mlp_gelu_in_fp8(c, target)));
    // A weight stored in fp8, in the compute dtype where its layer runs (not where an fp8 matmul takes it).
    bytes += largest_fp8_weight_elements(c, target.fp8_matmul_weights) * element_bytes(dtype);
#if VRAMGUARD_TORCH_MAJOR < 2
    bytes += std::min(batch * l.heads * tokens * tokens * 4, kUnfusedScoreBytes) *
             2;  // the unfused attention's scores and weights
#endif
    return static_cast<std::uint64_t>(bytes);
  }

  // Image and text tokens: the joint attention runs over both.
  std::uint64_t tokens(const NamedTensors& inputs) const override {
    return static_cast<std::uint64_t>(inputs.at("hidden_states").size(1) + inputs.at("encoder_hidden_states").size(1));
  }

  NamedTensors run(Session& session, const std::string& component, const std::string&, const NamedTensors& inputs,
                   const std::vector<std::string>& capture) const override {
    const Layout l = layout_of(*session.description().find(component));
    const c10::ScalarType dtype = session.dtype(component);
    NamedTensors out;
    // The units in the graph's order (the executor prefetches in it): the timestep embedding, the
    // text norm, the two input projections, the blocks, the output norm and projection.
    Streams x;
    TimeEmbedding temb;
    const auto batch = inputs.at("hidden_states").size(0);
    {
      UnitScope embed = session.unit(component, "time_text_embed");
      auto timestep = inputs.at("timestep").to(embed.device(), dtype).expand({batch});
      if (l.zero_cond_t) timestep = at::cat({timestep, timestep * 0});  // the pictures' rows: timestep 0
      temb.image = linear(embed, "time_text_embed.timestep_embedder.linear_2",
                          at::silu(linear(embed, "time_text_embed.timestep_embedder.linear_1",
                                          timestep_projection(timestep).to(dtype))));
      temb.text = l.zero_cond_t ? temb.image.narrow(0, 0, batch) : temb.image;
      if (l.zero_cond_t)
        temb.target_tokens = inputs.at("img_shapes").to(at::kCPU, at::kLong)[0].prod().item<std::int64_t>();
    }
    {
      UnitScope norm = session.unit(component, "txt_norm");
      x.text = rms_norm(inputs.at("encoder_hidden_states").to(norm.device(), dtype), norm["txt_norm.weight"], 1e-6);
    }
    {
      UnitScope img_in = session.unit(component, "img_in");
      x.image = linear(img_in, "img_in", inputs.at("hidden_states").to(img_in.device(), dtype));
    }
    {
      UnitScope txt_in = session.unit(component, "txt_in");
      x.text = linear(txt_in, "txt_in", x.text.to(txt_in.device()));
    }
    // The joint mask (image tokens, then text: transformer_block's order): image tokens always seen, text
    // padding hidden from every query. All-visible masks are dropped so that the fused kernels without
    // mask support can run.
    KeyMask key_mask;
    if (const auto it = inputs.find("encoder_hidden_states_mask"); it != inputs.end()) {
      const auto text_mask = it->second.to(at::kCPU, at::kBool);
      key_mask =
          KeyMask::of(at::cat({at::ones({text_mask.size(0), x.image.size(1)}, text_mask.options()), text_mask}, 1));
    }
    // Activations move with the blocks; what every block needs is made once per device.
    const std::int64_t text_tokens = x.text.size(1);
    PerDevice<Rotary> rotaries(
        [&](c10::Device device) { return rotary(l, inputs.at("img_shapes"), text_tokens, device); });
    PerDevice<KeyMask> key_masks([&](c10::Device device) { return key_mask.on(device); });
    for (std::int64_t i = 0; i < l.layers; ++i) {
      UnitScope block = session.unit(component, block_name(i));
      const c10::Device device = block.device();
      const TimeEmbedding here{temb.image.to(device, true), temb.text.to(device, true), temb.target_tokens};
      x = transformer_block(l, block, {x.image.to(device, true), x.text.to(device, true)}, here, key_masks.on(device),
                            rotaries.on(device));
      if (i == 0 && wants(capture, "block0_hidden")) out["block0_hidden"] = x.image.clone();
      if (i == 0 && wants(capture, "block0_encoder")) out["block0_encoder"] = x.text.clone();
    }
    {
      UnitScope norm = session.unit(component, "norm_out");
      const auto modulation =
          linear(norm, "norm_out.linear", at::silu(temb.text.to(norm.device(), true)).to(dtype)).chunk(2, -1);
      // AdaLayerNormContinuous: scale first, then shift.
      x.image =
          layer_norm(x.image.to(norm.device(), true)) * (1 + modulation[0].unsqueeze(1)) + modulation[1].unsqueeze(1);
    }
    UnitScope proj = session.unit(component, "proj_out");
    out["sample"] = linear(proj, "proj_out", x.image.to(proj.device(), true));
    return out;
  }
};

}  // namespace

std::shared_ptr<const Architecture> make_qwenimage_transformer_architecture() {
  return std::make_shared<QwenImageTransformerArchitecture>();
}

}  // namespace vramguard::runtime
