#include "qwen2_5_vl/qwen2_5_vl_vision.hpp"

#include <ATen/Functions.h>
#include <ATen/TensorOperators.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "common/attention.hpp"
#include "common/host_to_device.hpp"
#include "common/per_device.hpp"
#include "qwen2/qwen2_decoder.hpp"

namespace vramguard::runtime::qwen2_5_vl {

std::vector<Grid> grids_of(const at::Tensor& image_grid_thw) {
  const auto g = image_grid_thw.to(at::kCPU, at::kLong).contiguous();
  std::vector<Grid> grids;
  for (std::int64_t i = 0; i < g.size(0); ++i)
    grids.push_back({g[i][0].item<std::int64_t>(), g[i][1].item<std::int64_t>(), g[i][2].item<std::int64_t>()});
  return grids;
}

namespace {

// ---- the vision tower ---------------------------------------------------------------------------

// The windows the tower attends within: which merged patch goes where (window order), and the
// boundaries of the windows in patches.
struct Windows {
  std::vector<std::int64_t> order;       // merged-patch index in window order
  std::vector<std::int64_t> boundaries;  // cumulative patches, starting at 0, each window once
};

Windows windows_of(const VisionLayout& v, const std::vector<Grid>& grids) {
  Windows out;
  out.boundaries.push_back(0);
  const std::int64_t side = v.window / v.merge / v.patch;  // a window's side in merged patches
  const std::int64_t unit = v.merge * v.merge;
  std::int64_t offset = 0;
  for (const Grid& g : grids) {
    const std::int64_t h = g.h / v.merge, w = g.w / v.merge;
    // transformers pads to whole windows (a full extra window where the side divides evenly), so
    // the windows are numbered as it numbers them; empty ones add no boundary.
    const std::int64_t windows_h = (h + side - h % side) / side, windows_w = (w + side - w % side) / side;
    for (std::int64_t t = 0; t < g.t; ++t)
      for (std::int64_t wy = 0; wy < windows_h; ++wy)
        for (std::int64_t wx = 0; wx < windows_w; ++wx) {
          std::int64_t count = 0;
          for (std::int64_t y = wy * side; y < std::min(h, (wy + 1) * side); ++y)
            for (std::int64_t x = wx * side; x < std::min(w, (wx + 1) * side); ++x, ++count)
              out.order.push_back(offset + (t * h + y) * w + x);
          if (count > 0) out.boundaries.push_back(out.boundaries.back() + count * unit);
        }
    offset += g.t * h * w;
  }
  return out;
}

// Rotation angles [patches, head_dim / 2] of each patch: its row, then its column, as the processor
// orders patches (merge groups of 2×2 together).
at::Tensor vision_angles(const VisionLayout& v, const std::vector<Grid>& grids) {
  std::vector<float> rows, columns;
  for (const Grid& g : grids)
    for (std::int64_t t = 0; t < g.t; ++t)
      for (std::int64_t by = 0; by < g.h / v.merge; ++by)
        for (std::int64_t bx = 0; bx < g.w / v.merge; ++bx)
          for (std::int64_t y = 0; y < v.merge; ++y)
            for (std::int64_t x = 0; x < v.merge; ++x) {
              rows.push_back(static_cast<float>(by * v.merge + y));
              columns.push_back(static_cast<float>(bx * v.merge + x));
            }
  const auto options = at::TensorOptions().dtype(at::kFloat);
  const std::int64_t dim = v.head_dim() / 2;
  const auto inverse = 1.0 / at::pow(v.theta, at::arange(0, dim, 2, options) / static_cast<double>(dim));
  const auto n = static_cast<std::int64_t>(rows.size());
  return at::cat({at::outer(at::from_blob(rows.data(), {n}, options).clone(), inverse),
                  at::outer(at::from_blob(columns.data(), {n}, options).clone(), inverse)},
                 -1);
}

at::Tensor linear(const UnitScope& unit, const std::string& module, const at::Tensor& x) {
  return unit.linear(module, x);
}

at::Tensor vision_block_forward(const VisionLayout& v, const UnitScope& block, const at::Tensor& x,
                                const at::Tensor& cos, const at::Tensor& sin,
                                const std::vector<std::int64_t>& boundaries) {
  const auto n = x.size(0);
  const auto qkv =
      linear(block, "attn.qkv", qwen2::rms_norm(x, block["norm1.weight"], 1e-6)).reshape({n, 3, v.heads, v.head_dim()});
  // Rotary positions in float32, as transformers applies them to the vision tower.
  auto rotate = [&](const at::Tensor& t) {
    const auto f = t.to(at::kFloat);
    return (f * cos + qwen2::rotate_half(f) * sin).to(x.scalar_type()).transpose(0, 1);  // [heads, patches, head_dim]
  };
  const auto q = rotate(qkv.select(1, 0)), k = rotate(qkv.select(1, 1));
  const auto value = qkv.select(1, 2).transpose(0, 1);
  const double scale = 1.0 / std::sqrt(static_cast<double>(v.head_dim()));
  std::vector<at::Tensor> parts;
  for (std::size_t i = 0; i + 1 < boundaries.size(); ++i) {
    const auto begin = boundaries[i], length = boundaries[i + 1] - boundaries[i];
    parts.push_back(masked_attention(q.narrow(1, begin, length).unsqueeze(0), k.narrow(1, begin, length).unsqueeze(0),
                                     value.narrow(1, begin, length).unsqueeze(0), KeyMask{}, scale)
                        .squeeze(0));
  }
  const auto attended = at::cat(parts, 1).transpose(0, 1).reshape({n, v.hidden});
  auto out = x + linear(block, "attn.proj", attended);
  const auto h = qwen2::rms_norm(out, block["norm2.weight"], 1e-6);
  return out +
         linear(block, "mlp.down_proj", at::silu(linear(block, "mlp.gate_proj", h)) * linear(block, "mlp.up_proj", h));
}

}  // namespace

VisionOutput vision_tower(const VisionLayout& v, Session& session, const std::string& component,
                          const at::Tensor& pixel_values, const at::Tensor& image_grid_thw, c10::ScalarType dtype) {
  const auto grids = grids_of(image_grid_thw);
  const Windows windows = windows_of(v, grids);
  const std::int64_t unit = v.merge * v.merge;
  at::Tensor x;
  {
    UnitScope embed = session.unit(component, v.prefix + "patch_embed");
    // A 3-D convolution whose stride is its kernel: one matrix product over each flattened patch.
    const at::Tensor& weight = embed["proj.weight"];
    x = at::linear(pixel_values.to(embed.device(), dtype), weight.reshape({weight.size(0), -1}));
  }
  const auto n = x.size(0);
  const auto order = at::tensor(windows.order, at::kLong);
  x = x.reshape({n / unit, unit, -1}).index_select(0, host_to_device(order, x.device())).reshape({n, -1});
  // Patches in window order, each merge group of 2×2 kept together; their angles follow them.
  auto angles = vision_angles(v, grids).reshape({n / unit, unit, -1}).index_select(0, order).reshape({n, -1});
  const auto emb = at::cat({angles, angles}, -1);
  std::vector<std::int64_t> full = {0};
  for (const Grid& g : grids)
    for (std::int64_t t = 0; t < g.t; ++t) full.push_back(full.back() + g.h * g.w);
  // Cos and sin [patches, 1, head_dim], once per device the blocks run on.
  PerDevice<std::pair<at::Tensor, at::Tensor>> rotary([&](c10::Device device) {
    return std::make_pair(host_to_device(emb.cos().unsqueeze(1), device),
                          host_to_device(emb.sin().unsqueeze(1), device));
  });
  for (std::int64_t i = 0; i < v.depth; ++i) {
    UnitScope block = session.unit(component, vision_block(v, i));
    const c10::Device device = block.device();
    x = x.to(device, true);
    const bool full_attention = std::count(v.full_attention_blocks.begin(), v.full_attention_blocks.end(), i) > 0;
    const auto& [cos, sin] = rotary.on(device);
    x = vision_block_forward(v, block, x, cos, sin, full_attention ? full : windows.boundaries);
  }
  VisionOutput out;
  out.last_block = x;
  UnitScope merger = session.unit(component, v.prefix + "merger");
  auto merged =
      qwen2::rms_norm(x.to(merger.device(), true), merger["ln_q.weight"], 1e-6).reshape({n / unit, unit * v.hidden});
  merged = linear(merger, "mlp.2", at::gelu(linear(merger, "mlp.0", merged)));
  // Back to the processor's order.
  out.merged = merged.index_select(0, host_to_device(at::argsort(order), merged.device()));
  return out;
}

}  // namespace vramguard::runtime::qwen2_5_vl
