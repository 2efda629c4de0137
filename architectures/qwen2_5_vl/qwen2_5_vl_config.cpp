#include "qwen2_5_vl/qwen2_5_vl_config.hpp"

#include "config_values.hpp"
#include "core/errors.hpp"

namespace vramguard {

Qwen25VlConfig read_qwen2_5_vl_config(const nlohmann::json& values, const std::string& file) {
  Qwen25VlConfig c;
  c.text = read_qwen2_config(values, file, "Qwen2.5-VL");
  std::int64_t rotary_half = 0;
  for (auto s : c.text.mrope_section) rotary_half += s;
  if (c.text.mrope_section.size() != 3 || 2 * rotary_half != c.text.head_dim)
    throw InputError(file, "\"mrope_section\" must hold three numbers adding up to half the head dimension (" +
                               std::to_string(c.text.head_dim / 2) + ")");
  const ConfigValues config(values, file, "Qwen2.5-VL");
  c.image_token = config.positive_integer("image_token_id", c.image_token);
  c.video_token = config.positive_integer("video_token_id", c.video_token);
  c.vision_start_token = config.positive_integer("vision_start_token_id", c.vision_start_token);
  c.vision_end_token = config.positive_integer("vision_end_token_id", c.vision_end_token);
  const ConfigValues vision = config.section("vision_config");
  VisionConfig& v = c.vision;
  v.depth = vision.positive_integer("depth", v.depth);
  v.hidden = vision.positive_integer("hidden_size", v.hidden);
  v.heads = vision.positive_integer("num_heads", v.heads);
  v.intermediate = vision.positive_integer("intermediate_size", v.intermediate);
  v.out_hidden = vision.positive_integer("out_hidden_size", v.out_hidden);
  v.patch = vision.positive_integer("patch_size", v.patch);
  v.temporal_patch = vision.positive_integer("temporal_patch_size", v.temporal_patch);
  v.merge = vision.positive_integer("spatial_merge_size", v.merge);
  v.in_channels = vision.positive_integer("in_channels", vision.positive_integer("in_chans", v.in_channels));
  v.window = vision.positive_integer("window_size", v.window);
  v.full_attention_blocks = vision.integers("fullatt_block_indexes", v.full_attention_blocks);
  if (vision.has("rope_parameters") && vision.json()["rope_parameters"].is_object())
    v.theta = vision.section("rope_parameters").positive_number("rope_theta", v.theta);
  if (v.hidden % v.heads != 0 || v.head_dim() % 4 != 0)
    throw InputError(file, "the vision tower's \"hidden_size\" / \"num_heads\" must be a multiple of 4");
  if (v.window % (v.merge * v.patch) != 0)
    throw InputError(file, "the vision tower's \"window_size\" must be a multiple of patch_size x spatial_merge_size");
  return c;
}

}  // namespace vramguard
