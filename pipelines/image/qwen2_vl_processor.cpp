#include "image/qwen2_vl_processor.hpp"

#include <cmath>

#include "core/errors.hpp"
#include "model/json_file.hpp"

namespace vramguard::pipelines {

Qwen2VlProcessorConfig Qwen2VlProcessorConfig::from_file(const std::string& path) {
  const nlohmann::json doc = read_json_file(path);
  if (!doc.is_object()) throw InputError(path, "is not a JSON object");
  // A processor_config.json nests the image processor's settings; a preprocessor_config.json is flat.
  const nlohmann::json& p =
      doc.contains("image_processor") && doc["image_processor"].is_object() ? doc["image_processor"] : doc;
  Qwen2VlProcessorConfig c;
  auto positive = [&](const char* key, double fallback) {
    const double value = json_number(p, key, fallback, path);
    if (!(value > 0) || value > 1e9) throw InputError(path, std::string(key) + " must be a positive number");
    return value;
  };
  c.patch_size = static_cast<int>(positive("patch_size", c.patch_size));
  c.merge_size = static_cast<int>(positive("merge_size", c.merge_size));
  c.temporal_patch_size = static_cast<int>(positive("temporal_patch_size", c.temporal_patch_size));
  c.min_pixels = static_cast<std::int64_t>(positive("min_pixels", static_cast<double>(c.min_pixels)));
  c.max_pixels = static_cast<std::int64_t>(positive("max_pixels", static_cast<double>(c.max_pixels)));
  if (p.contains("size") &&
      p["size"].is_object()) {  // transformers ≥ 4.5x: size {shortest_edge, longest_edge} in pixels
    c.min_pixels = json_integer_in(p["size"], "shortest_edge", c.min_pixels, 1, 1'000'000'000, path);
    c.max_pixels = json_integer_in(p["size"], "longest_edge", c.max_pixels, 1, 1'000'000'000, path);
  }
  if (c.min_pixels > c.max_pixels) throw InputError(path, "its minimum pixel count exceeds its maximum");
  const int resample = static_cast<int>(json_number(p, "resample", 3, path));
  if (resample == 1) c.resample = ResampleFilter::lanczos;
  else if (resample != 3)
    throw InputError(
        path, "resample " + std::to_string(resample) + " is not one vramguard implements (3, bicubic; 1, Lanczos)");
  c.do_resize = json_bool(p, "do_resize", true, path);
  c.do_rescale = json_bool(p, "do_rescale", true, path);
  c.do_normalize = json_bool(p, "do_normalize", true, path);
  // 1/255 in every published config; 1e308 once made the picture's patches infinite.
  c.rescale_factor = json_number_in(p, "rescale_factor", c.rescale_factor, 1e-6, 1.0, path);
  for (const auto& [key, target] : {std::pair{"image_mean", &c.mean}, std::pair{"image_std", &c.std}}) {
    if (!p.contains(key)) continue;
    const auto& values = p[key];
    if (!values.is_array() || values.size() != 3 || !values[0].is_number() || !values[1].is_number() ||
        !values[2].is_number())
      throw InputError(path, std::string(key) + " must be three numbers (R, G, B)");
    for (std::size_t i = 0; i < 3; ++i) (*target)[i] = values[i].get<double>();
  }
  for (const double m : c.mean)
    if (!(std::abs(m) <= 1e3)) throw InputError(path, "image_mean holds a value outside -1000 to 1000");
  for (const double s : c.std)
    if (!(s >= 1e-3 && s <= 1e3)) throw InputError(path, "image_std holds a value outside 0.001 to 1000");
  return c;
}

std::pair<int, int> smart_resize(int height, int width, int factor, std::int64_t min_pixels, std::int64_t max_pixels) {
  const double h = height, w = width, f = factor;
  if (std::max(h, w) / std::min(h, w) > 200)
    throw UsageError(
        "the image's aspect ratio is over 200 (" + std::to_string(width) + "x" + std::to_string(height) + ")",
        "crop it to a less extreme shape");
  // Python's round() takes halves to even, as nearbyint does.
  double h_bar = std::nearbyint(h / f) * f, w_bar = std::nearbyint(w / f) * f;
  if (h_bar * w_bar > static_cast<double>(max_pixels)) {
    const double beta = std::sqrt(h * w / static_cast<double>(max_pixels));
    h_bar = std::max(f, std::floor(h / beta / f) * f);
    w_bar = std::max(f, std::floor(w / beta / f) * f);
  } else if (h_bar * w_bar < static_cast<double>(min_pixels)) {
    const double beta = std::sqrt(static_cast<double>(min_pixels) / (h * w));
    h_bar = std::ceil(h * beta / f) * f;
    w_bar = std::ceil(w * beta / f) * f;
  }
  return {static_cast<int>(h_bar), static_cast<int>(w_bar)};
}

std::int64_t ProcessedImage::merged_tokens() const { return grid_thw[0] * grid_thw[1] * grid_thw[2] / 4; }

ProcessedImage process_for_qwen2_vl(const RgbImage& image, const Qwen2VlProcessorConfig& c) {
  RgbImage resized = image;
  if (c.do_resize) {
    const auto [height, width] =
        smart_resize(image.height, image.width, c.patch_size * c.merge_size, c.min_pixels, c.max_pixels);
    resized = resize_like_torchvision(image, width, height, c.resample);
  }
  const std::int64_t patch = c.patch_size, merge = c.merge_size, temporal = c.temporal_patch_size;
  if (resized.height % (patch * merge) != 0 || resized.width % (patch * merge) != 0)
    throw UsageError("the image is " + std::to_string(resized.width) + "x" + std::to_string(resized.height) +
                     " pixels, not a multiple of the processor's patch times merge size (" +
                     std::to_string(patch * merge) + ")");
  const std::int64_t grid_h = resized.height / patch, grid_w = resized.width / patch;
  ProcessedImage out;
  out.grid_thw = {1, grid_h, grid_w};  // one picture, repeated over the temporal patch: one frame group
  out.patches = grid_h * grid_w;
  out.patch_values = 3 * temporal * patch * patch;
  out.pixel_values.resize(static_cast<std::size_t>(out.patches * out.patch_values));
  // The value of channel c at pixel (x, y), as the processor computes it in float32.
  const auto scale = static_cast<float>(c.do_rescale ? c.rescale_factor : 1.0);
  auto value = [&](std::int64_t x, std::int64_t y, std::size_t ch) {
    float v = static_cast<float>(resized.at(static_cast<int>(x), static_cast<int>(y), static_cast<int>(ch))) * scale;
    if (c.do_normalize) v = (v - static_cast<float>(c.mean[ch])) / static_cast<float>(c.std[ch]);
    return v;
  };
  // Rows in the order (merged row, merged column, row within the merge, column within it); each row's
  // values in the order (channel, temporal copy, y within the patch, x within it).
  std::size_t at = 0;
  for (std::int64_t by = 0; by < grid_h / merge; ++by)
    for (std::int64_t bx = 0; bx < grid_w / merge; ++bx)
      for (std::int64_t my = 0; my < merge; ++my)
        for (std::int64_t mx = 0; mx < merge; ++mx) {
          const std::int64_t top = (by * merge + my) * patch, left = (bx * merge + mx) * patch;
          for (std::size_t ch = 0; ch < 3; ++ch)
            for (std::int64_t t = 0; t < temporal; ++t)
              for (std::int64_t py = 0; py < patch; ++py)
                for (std::int64_t px = 0; px < patch; ++px) out.pixel_values[at++] = value(left + px, top + py, ch);
        }
  return out;
}

}  // namespace vramguard::pipelines
