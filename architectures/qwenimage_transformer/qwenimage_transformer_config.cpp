#include "qwenimage_transformer/qwenimage_transformer_config.hpp"

#include <algorithm>

#include "config_values.hpp"
#include "core/errors.hpp"

namespace vramguard {

MmditConfig read_mmdit_config(const nlohmann::json& values, const std::string& file) {
  const ConfigValues config(values, file, "Qwen-Image transformer");
  MmditConfig c;
  c.in_channels = config.positive_integer("in_channels", c.in_channels);
  c.out_channels = config.positive_integer("out_channels", c.out_channels);
  c.patch = config.positive_integer("patch_size", c.patch);
  c.layers = config.positive_integer("num_layers", c.layers);
  c.heads = config.positive_integer("num_attention_heads", c.heads);
  c.head_dim = config.positive_integer("attention_head_dim", c.head_dim);
  c.joint_dim = config.positive_integer("joint_attention_dim", c.joint_dim);
  c.axes_dims_rope = config.integers("axes_dims_rope", c.axes_dims_rope);
  std::int64_t rotary = 0;
  for (auto d : c.axes_dims_rope) rotary += d;
  if (c.axes_dims_rope.size() != 3 || rotary != c.head_dim ||
      std::any_of(c.axes_dims_rope.begin(), c.axes_dims_rope.end(), [](auto d) { return d <= 0 || d % 2; }))
    throw InputError(config.file(),
                     "\"axes_dims_rope\" must be three positive even numbers adding up to \"attention_head_dim\" (" +
                         std::to_string(c.head_dim) + ")");
  c.zero_cond_t = config.flag("zero_cond_t", false);
  for (const char* key : {"guidance_embeds", "use_additional_t_cond", "use_layer3d_rope"})
    if (config.flag(key, false) && c.unimplemented_variant.empty()) c.unimplemented_variant = key;
  return c;
}

}  // namespace vramguard
