// Qwen2.5-VL (transformers' Qwen2_5_VLForConditionalGeneration), Qwen-Image-Edit's text encoder: the
// vision tower turns the processor's flattened patches into image embeddings (patch embedding, 2-D
// rotary positions, window attention with the full-attention blocks the config lists, the 2×2 patch
// merger); they take the image-pad tokens' places in the prompt, and the Qwen2 decoder runs over
// both under multimodal rotary positions (time, height, width sections of each head, positions from
// image_grid_thw as transformers computes them). Both checkpoint namings are read: transformers 5's
// (model.language_model.*, model.visual.*) and the older one (model.layers.*, visual.*).
#include <ATen/Functions.h>
#include <ATen/TensorOperators.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "common/attention.hpp"
#include "common/component_config.hpp"
#include "common/host_to_device.hpp"
#include "common/named_inputs.hpp"
#include "common/per_device.hpp"
#include "core/errors.hpp"
#include "vramguard/runtime/architecture.hpp"
#include "qwen2/qwen2_decoder.hpp"
#include "qwen2_5_vl/qwen2_5_vl_layout.hpp"
#include "qwen2_5_vl/qwen2_5_vl_vision.hpp"

namespace vramguard::runtime {
namespace {

using qwen2_5_vl::Grid;
using qwen2_5_vl::grids_of;
using qwen2_5_vl::VisionLayout;
using qwen2_5_vl::VisionOutput;

const char* const kFamily = "qwen2_5_vl";

struct Layout {
  qwen2::Layout text;
  VisionLayout vision;
  std::int64_t image_token = 0, video_token = 0, vision_start_token = 0, vision_end_token = 0;
};

Layout layout_of(const ComponentDescription& component) {
  const Qwen25VlConfig config = read_qwen2_5_vl_config(component.config, config_file_of(component));
  Layout l;
  l.text = qwen2::layout_of(component, config.text, "Qwen2.5-VL");
  static_cast<VisionConfig&>(l.vision) = config.vision;
  l.vision.prefix = component.find("model.visual.patch_embed") ? "model.visual." : "visual.";
  l.image_token = config.image_token;
  l.video_token = config.video_token;
  l.vision_start_token = config.vision_start_token;
  l.vision_end_token = config.vision_end_token;
  return l;
}

// ---- the language model's positions -------------------------------------------------------------

// Positions [3, batch, tokens] (time, height, width), as transformers 5 computes them. With the
// processor's mm_token_type_ids (1 marks an image's tokens) and image_grid_thw: text counts on all
// three axes; an image's tokens sit on its grid (time 0, merged rows and columns) after the text
// before it, and the text after an image continues past its larger side. Without them (diffusers'
// pipeline passes none), every axis counts the kept tokens. Padding (attention_mask 0) gets 1.
at::Tensor positions_of(const Layout& l, const at::Tensor& input_ids, const at::Tensor& attention_mask,
                        const at::Tensor& token_types, const std::vector<Grid>& grids) {
  const std::int64_t batch = input_ids.size(0), tokens = input_ids.size(1);
  const auto mask = attention_mask.defined() ? attention_mask.to(at::kCPU, at::kLong).contiguous()
                                             : at::ones({batch, tokens}, at::kLong);
  const auto types = token_types.defined() && !grids.empty() ? token_types.to(at::kCPU, at::kLong).contiguous()
                                                             : at::zeros({batch, tokens}, at::kLong);
  auto positions = at::ones({3, batch, tokens}, at::kLong);
  auto p = positions.accessor<std::int64_t, 3>();
  const auto kept = mask.accessor<std::int64_t, 2>();
  const auto type = types.accessor<std::int64_t, 2>();
  std::size_t image = 0;
  for (std::int64_t b = 0; b < batch; ++b) {
    std::vector<std::int64_t> where;  // the kept tokens' places
    for (std::int64_t t = 0; t < tokens; ++t)
      if (kept[b][t] != 0) where.push_back(t);
    std::int64_t next = 0;  // the next text position
    std::size_t i = 0;
    while (i < where.size()) {
      if (type[b][where[i]] != 1) {
        for (int axis = 0; axis < 3; ++axis) p[axis][b][where[i]] = next;
        ++next, ++i;
        continue;
      }
      if (image >= grids.size())
        throw InputError("input 'image_grid_thw'", "describes fewer images than mm_token_type_ids marks");
      const Grid& g = grids[image++];
      const std::int64_t h = g.h / l.vision.merge, w = g.w / l.vision.merge;
      for (std::int64_t t = 0; t < g.t; ++t)
        for (std::int64_t y = 0; y < h; ++y)
          for (std::int64_t x = 0; x < w; ++x, ++i) {
            if (i >= where.size() || type[b][where[i]] != 1)
              throw InputError("input 'mm_token_type_ids'",
                               "marks fewer tokens for an image than its grid in image_grid_thw holds");
            p[0][b][where[i]] = next;  // an image's frames all sit at time 0
            p[1][b][where[i]] = next + y;
            p[2][b][where[i]] = next + x;
          }
      next += std::max(h, w);
    }
  }
  return positions;
}

// cos and sin [batch, 1, tokens, head_dim]: each section of the head rotated by its own axis.
qwen2::Rotary multimodal_rotary(const Layout& l, const at::Tensor& positions, c10::Device device,
                                c10::ScalarType dtype) {
  const auto options = at::TensorOptions().dtype(at::kFloat).device(device);
  const auto inverse =
      1.0 / at::pow(l.text.theta, at::arange(0, l.text.head_dim, 2, options) / static_cast<double>(l.text.head_dim));
  const auto angles =
      host_to_device(positions.to(at::kFloat), device).unsqueeze(-1) * inverse;  // [3, batch, tokens, head_dim / 2]
  const auto emb = at::cat({angles, angles}, -1);
  std::vector<std::int64_t> sections = l.text.mrope_section;
  sections.insert(sections.end(), l.text.mrope_section.begin(), l.text.mrope_section.end());
  std::vector<at::Tensor> cos, sin;
  std::int64_t begin = 0;
  for (std::size_t i = 0; i < sections.size(); ++i) {
    const auto axis = static_cast<std::int64_t>(i % 3);
    cos.push_back(emb.select(0, axis).narrow(-1, begin, sections[i]).cos());
    sin.push_back(emb.select(0, axis).narrow(-1, begin, sections[i]).sin());
    begin += sections[i];
  }
  return {at::cat(cos, -1).to(dtype).unsqueeze(1), at::cat(sin, -1).to(dtype).unsqueeze(1)};
}

class Qwen25VlArchitecture final : public Architecture {
 public:
  std::string name() const override { return kFamily; }

  bool handles(const ComponentDescription& component) const override {
    return has_class(component, "Qwen2_5_VLForConditionalGeneration");
  }

  std::vector<EntryPoint> entries() const override {
    const std::vector<std::string> inputs = {"input_ids"},
                                   optional = {"attention_mask", "pixel_values", "image_grid_thw", "mm_token_type_ids"};
    return {{"forward",
             inputs,
             optional,
             {"last_hidden_state", "logits"},
             {"image_embeds", "merged_image_embeds", "hidden_after_layer_0"},
             "input_ids [batch, tokens] with the image's pad tokens, attention_mask, pixel_values [patches, channels x "
             "temporal_patch x patch^2], image_grid_thw [images, 3] and mm_token_type_ids as the processor makes them "
             "(positions "
             "follow the image grids only where mm_token_type_ids is given, as in transformers 5) -> last_hidden_state "
             "(after the final norm), logits"},
            {"encode",
             inputs,
             optional,
             {"last_hidden_state"},
             {"image_embeds", "merged_image_embeds", "hidden_after_layer_0"},
             "as forward, without the head: last_hidden_state only (what Qwen-Image-Edit's pipeline uses)"}};
  }

  void check(const ComponentDescription& c, const std::string& entry_name, const NamedTensors& inputs) const override {
    check_input_names(name(), entry(entry_name), inputs);
    const Layout l = layout_of(c);
    qwen2::check_weights(c, l.text, qwen2_5_vl_tensors(l.text, l.vision, l.vision.prefix == "visual."));
    const at::Tensor& ids = integer_input(inputs, "input_ids", 2);
    if (ids.size(1) > l.text.positions)
      throw InputError("input 'input_ids'", std::to_string(ids.size(1)) + " tokens are more than the model's " +
                                                std::to_string(l.text.positions) +
                                                " positions (max_position_embeddings)");
    const auto id = ids.to(at::kLong);
    const auto lowest = id.min().item<std::int64_t>(), highest = id.max().item<std::int64_t>();
    if (lowest < 0 || highest >= l.text.vocab)
      throw InputError("input 'input_ids'", "token id " + std::to_string(lowest < 0 ? lowest : highest) +
                                                " is outside the vocabulary of " + std::to_string(l.text.vocab));
    if (inputs.count("attention_mask")) {
      const at::Tensor& mask = integer_input(inputs, "attention_mask", 2, /*bool_ok=*/true);
      expect_size(mask, "attention_mask", 0, ids.size(0), "the batch of input_ids");
      expect_size(mask, "attention_mask", 1, ids.size(1), "the tokens of input_ids");
    }
    if (inputs.count("mm_token_type_ids")) {
      const at::Tensor& types = integer_input(inputs, "mm_token_type_ids", 2);
      expect_size(types, "mm_token_type_ids", 0, ids.size(0), "the batch of input_ids");
      expect_size(types, "mm_token_type_ids", 1, ids.size(1), "the tokens of input_ids");
      if (!types.eq(1).eq(id.eq(l.image_token)).all().item<bool>())
        throw InputError("input 'mm_token_type_ids'",
                         "marks other tokens as image tokens (1) than input_ids' image-pad tokens");
    }
    if (id.eq(l.video_token).any().item<bool>())
      throw InputError("input 'input_ids'", "holds video tokens; the native Qwen2.5-VL runs text and images",
                       "run videos through the Python module with transformers' own class");
    const std::int64_t image_tokens = id.eq(l.image_token).sum().item<std::int64_t>();
    const bool has_pixels = inputs.count("pixel_values") > 0, has_grid = inputs.count("image_grid_thw") > 0;
    if (has_pixels != has_grid)
      throw InputError(has_pixels ? "input 'image_grid_thw'" : "input 'pixel_values'",
                       "is missing: an image needs both");
    if (!has_pixels) {
      if (image_tokens > 0)
        throw InputError("input 'pixel_values'",
                         "is missing: input_ids holds " + std::to_string(image_tokens) + " image tokens");
      return;
    }
    const VisionLayout& v = l.vision;
    std::vector<std::string> needed = {v.prefix + "patch_embed.proj.weight", v.prefix + "merger.ln_q.weight",
                                       v.prefix + "merger.mlp.0.weight", v.prefix + "merger.mlp.2.weight"};
    require_tensors(c, name(), needed);
    // Block by block: the first one missing ends it (a "depth" of 10^9 must not list 10^10 names first).
    for (std::int64_t i = 0; i < v.depth; ++i) {
      std::vector<std::string> block;
      for (const char* t : {"norm1.weight", "norm2.weight", "attn.qkv.weight", "attn.proj.weight",
                            "mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight"})
        block.push_back(vision_block(l.vision, i) + "." + t);
      require_tensors(c, name(), block);
    }
    const at::Tensor& pixels = floating_input(inputs, "pixel_values", 2);
    const at::Tensor& grid = integer_input(inputs, "image_grid_thw", 2);
    expect_size(grid, "image_grid_thw", 1, 3, "(frames, height, width) in patches per image");
    expect_size(pixels, "pixel_values", 1, v.patch_values(),
                "channels x temporal_patch_size x patch_size^2 of the vision config");
    std::int64_t patches = 0, merged = 0;
    for (const Grid& g : grids_of(grid)) {
      if (g.t <= 0 || g.h <= 0 || g.w <= 0 || g.h % v.merge || g.w % v.merge)
        throw InputError("input 'image_grid_thw'",
                         "holds a grid whose height or width is not a positive multiple of spatial_merge_size (" +
                             std::to_string(v.merge) + ")");
      patches += g.t * g.h * g.w;
      merged += g.t * g.h * g.w / (v.merge * v.merge);
    }
    expect_size(pixels, "pixel_values", 0, patches, "the patches image_grid_thw describes");
    if (merged != image_tokens)
      throw InputError("input 'input_ids'", "holds " + std::to_string(image_tokens) +
                                                " image tokens where image_grid_thw makes " + std::to_string(merged) +
                                                " image embeddings");
  }

  NamedTensors example_inputs(const ComponentDescription& c, const std::string& entry_name,
                              const WorkloadShape& shape) const override {
    entry(entry_name);
    const Layout l = layout_of(c);
    const VisionLayout& v = l.vision;
    const std::int64_t step = v.patch * v.merge;  // the processor resizes to multiples of this
    const std::int64_t height =
        std::max<std::int64_t>(step, static_cast<std::int64_t>(shape.height ? shape.height : 448) / step * step);
    const std::int64_t width =
        std::max<std::int64_t>(step, static_cast<std::int64_t>(shape.width ? shape.width : 448) / step * step);
    const std::int64_t grid_h = height / v.patch, grid_w = width / v.patch,
                       image_tokens = grid_h * grid_w / (v.merge * v.merge);
    const auto text = static_cast<std::int64_t>(shape.tokens ? shape.tokens : 64);
    const auto batch = static_cast<std::int64_t>(std::max<std::uint64_t>(1, shape.batch));
    std::mt19937_64 rng(shape.seed);
    std::vector<std::int64_t> ids;
    for (std::int64_t b = 0; b < batch; ++b) {
      ids.push_back(l.vision_start_token);
      for (std::int64_t i = 0; i < image_tokens; ++i) ids.push_back(l.image_token);
      ids.push_back(l.vision_end_token);
      for (std::int64_t i = 0; i < text; ++i) {
        std::int64_t token;
        do token = static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(l.text.vocab));
        while (token == l.image_token || token == l.video_token || token == l.vision_start_token);
        ids.push_back(token);
      }
    }
    const std::int64_t tokens = image_tokens + 2 + text;
    at::manual_seed(shape.seed);
    std::vector<std::int64_t> grid;
    for (std::int64_t b = 0; b < batch; ++b) grid.insert(grid.end(), {1, grid_h, grid_w});
    return {{"input_ids", at::from_blob(ids.data(), {batch, tokens}, at::kLong).clone()},
            {"attention_mask", at::ones({batch, tokens}, at::kLong)},
            {"pixel_values", at::randn({batch * grid_h * grid_w, v.patch_values()})},
            {"image_grid_thw", at::from_blob(grid.data(), {batch, 3}, at::kLong).clone()}};
  }

  std::uint64_t activation_bytes(const ComponentDescription& c, const std::string& entry_name,
                                 const NamedTensors& inputs, const ComputeTarget& target) const override {
    const c10::ScalarType dtype = target.dtype;
    const Layout l = layout_of(c);
    const auto& ids = inputs.at("input_ids");
    const std::int64_t tokens = ids.size(0) * ids.size(1);
    const bool head = entry(entry_name).name == "forward";
    std::int64_t patches = 0, text_extra = 0, vision_extra = 0;
#if VRAMGUARD_TORCH_MAJOR < 2
    text_extra = ids.size(0) * l.text.heads * ids.size(1) * ids.size(1) * 4;  // the unfused attention's scores
#endif
    if (const auto it = inputs.find("pixel_values"); it != inputs.end()) {
      patches = it->second.size(0);
      // The largest image attends as a whole in the full-attention blocks.
      std::int64_t largest = 0;
      for (const Grid& g : grids_of(inputs.at("image_grid_thw"))) largest = std::max(largest, g.h * g.w);
#if VRAMGUARD_TORCH_MAJOR < 2
      vision_extra = std::min(l.vision.heads * largest * largest * 4, kUnfusedScoreBytes) * 2;
#else
      (void)largest;
#endif
    }
    return static_cast<std::uint64_t>(qwen2_5_vl_activation_bytes(
        l.text, l.vision, static_cast<double>(element_bytes(dtype)), static_cast<double>(tokens),
        static_cast<double>(patches), head, static_cast<double>(text_extra), static_cast<double>(vision_extra)));
  }

  std::uint64_t tokens(const NamedTensors& inputs) const override {
    return static_cast<std::uint64_t>(inputs.at("input_ids").size(1));
  }

  NamedTensors run(Session& session, const std::string& component, const std::string& entry_name,
                   const NamedTensors& inputs, const std::vector<std::string>& capture) const override {
    const Layout l = layout_of(*session.description().find(component));
    const c10::ScalarType dtype = session.dtype(component);
    const at::Tensor& input_ids = inputs.at("input_ids");
    const auto mask_it = inputs.find("attention_mask");
    const at::Tensor attention_mask = mask_it != inputs.end() ? mask_it->second : at::Tensor();
    NamedTensors out;
    std::vector<Grid> grids;
    at::Tensor image_embeds;
    if (const auto it = inputs.find("pixel_values"); it != inputs.end()) {
      grids = grids_of(inputs.at("image_grid_thw"));
      VisionOutput vision = vision_tower(l.vision, session, component, it->second, inputs.at("image_grid_thw"), dtype);
      image_embeds = vision.merged;
      if (wants(capture, "image_embeds")) out["image_embeds"] = vision.last_block;
      if (wants(capture, "merged_image_embeds")) out["merged_image_embeds"] = vision.merged;
    }
    at::Tensor x = qwen2::embed(session, component, l.text.prefix + "embed_tokens", input_ids);
    if (image_embeds.defined()) {
      // The image embeddings take the image-pad tokens' places, in order.
      const auto places = input_ids.to(x.device()).eq(l.image_token).unsqueeze(-1).expand_as(x);
      x = x.masked_scatter(places, image_embeds.to(x.device(), x.scalar_type()));
    }
    const auto types_it = inputs.find("mm_token_type_ids");
    const at::Tensor positions =
        positions_of(l, input_ids, attention_mask, types_it != inputs.end() ? types_it->second : at::Tensor(), grids);
    // Padding hides from every query only where there is some.
    at::Tensor key_mask;
    if (attention_mask.defined() && !attention_mask.to(at::kBool).all().item<bool>())
      key_mask = attention_mask.to(at::kBool);
    // What every layer needs, made once per device its layers run on.
    PerDevice<qwen2::Rotary> rotaries(
        [&](c10::Device device) { return multimodal_rotary(l, positions, device, dtype); });
    PerDevice<at::Tensor> key_masks(
        [&](c10::Device device) { return key_mask.defined() ? host_to_device(key_mask, device) : key_mask; });
    for (std::int64_t i = 0; i < l.text.layers; ++i) {
      UnitScope layer = session.unit(component, qwen2::layer_name(l.text, i));
      const c10::Device device = layer.device();
      x = x.to(device, /*non_blocking=*/true);
      x = qwen2::decoder_layer(l.text, layer, x, rotaries.on(device), key_masks.on(device));
      if (i == 0 && wants(capture, "hidden_after_layer_0")) out["hidden_after_layer_0"] = x.clone();
    }
    {
      UnitScope norm = session.unit(component, l.text.prefix + "norm");
      x = qwen2::rms_norm(x.to(norm.device(), true), norm["weight"], l.text.eps);
    }
    out["last_hidden_state"] = x;
    if (entry(entry_name).name == "forward") out["logits"] = qwen2::head_logits(session, component, x);
    return out;
  }
};

}  // namespace

std::shared_ptr<const Architecture> make_qwen2_5_vl_architecture() { return std::make_shared<Qwen25VlArchitecture>(); }

}  // namespace vramguard::runtime
