#pragma once
// Qwen-Image's MMDiT (diffusers' QwenImageTransformer2DModel): its config.json, read once here for
// planning, synth, the checks and the forward code alike, and the activations it holds per token.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace vramguard {

struct MmditConfig {
  std::int64_t layers = 60, heads = 24, head_dim = 128, joint_dim = 3584, in_channels = 64, out_channels = 16,
               patch = 2;
  std::vector<std::int64_t> axes_dims_rope{16, 56, 56};  // frame, height, width: adding up to head_dim
  bool zero_cond_t = false;  // Edit-2511's: the input pictures' tokens modulated as at timestep 0
  // The first of guidance_embeds, use_additional_t_cond, use_layer3d_rope that is set: a Qwen-Image
  // variant diffusers' class runs (so planning takes it) but the native forward code does not.
  std::string unimplemented_variant;

  std::int64_t inner() const { return heads * head_dim; }
  // What one block holds per token (image and text alike) while it runs: both streams and their
  // residuals, the modulated inputs, q/k/v, the joint attention's output, and the MLP's 4× hidden with
  // its GELU — in the compute dtype, or one byte an element where the down-projection is an fp8 matmul
  // that quantizes its input with the GELU applied (`fp8_gelu`); and the float32 copies of q and k that
  // their norm and rotary make op by op, unless the fused GPU kernel makes them (`fused_norm_rotary`:
  // architectures/common/head_norm_rotary.hpp). Blocks run one at a time, so this is the pass's.
  double activation_bytes_per_token(double element_bytes, bool fused_norm_rotary = false, bool fp8_gelu = false) const {
    const auto width = static_cast<double>(inner());
    return (3 + 3 + 1 + 4) * width * element_bytes + 4 * width * (fp8_gelu ? 1 : element_bytes) +
           (fused_norm_rotary ? 0 : 2 * width * 4);
  }
  // What one block's passes outside its matmuls and attention read and write per token on a GPU (each
  // token through one stream), in elements of the compute dtype: each modulated norm a norm and an
  // addcmul (read, write, twice; two of them: 8), q's and k's norm and rotary into the joint tensors (4),
  // v joined (2), the two gated residuals (read x and y, write: 6), the GELU over the 4× hidden layer (8):
  // 28 × width. With fp8 matmuls the inputs are quantized as they are made (read, then a byte an element
  // out): each modulated norm by one kernel, shared by q, k and v, which takes both of its ops' passes
  // away; the output projection's input by its own pass; and the down-projection's with the GELU folded
  // in, which takes the GELU's own pass away.
  double elementwise_bytes_per_token(double element_bytes, bool fp8_matmuls) const {
    const auto width = static_cast<double>(inner());
    const double bf16 = 28 * width * element_bytes;
    if (!fp8_matmuls) return bf16;
    return bf16 - (8 + 8) * width * element_bytes + (2 + 1) * width * (element_bytes + 1) +
           4 * width * (element_bytes + 1);
  }
};

// From config.json's values (`file` names it in complaints); InputError for a value out of range.
MmditConfig read_mmdit_config(const nlohmann::json& config, const std::string& file);

}  // namespace vramguard
