#include "qwenimage_vae/qwenimage_vae_config.hpp"

#include <algorithm>

#include "config_values.hpp"
#include "core/errors.hpp"
#include "model/json_file.hpp"

namespace vramguard {
namespace {

const char* const kShipped = "use the VAE config the model ships with";

// A list of z_dim numbers, each within [low, high]: the latents are normalized by them, and a std of
// 1e-300 or a mean of 1e308 made a black picture.
std::vector<double> statistics(const ConfigValues& config, const char* key, std::int64_t z_dim, double low, double high,
                               const std::string& range) {
  if (!config.has(key)) return {};
  const std::vector<double> values = config.numbers(key);
  if (values.size() != static_cast<std::size_t>(z_dim))
    throw InputError(config.file(), std::string("\"") + key + "\" must be a list of " + std::to_string(z_dim) +
                                        " numbers (one per latent channel)");
  for (const double v : values)
    if (!(v >= low && v <= high))
      throw InputError(config.file(), std::string("\"") + key + "\" holds " + std::to_string(v) + ": " + range,
                       kShipped);
  return values;
}

}  // namespace

VaeConfig read_vae_config(const nlohmann::json& values, const std::string& file) {
  const ConfigValues config(values, file, "Qwen-Image VAE");
  VaeConfig c;
  c.base_dim = config.positive_integer("base_dim", c.base_dim);
  // Bounded where it sizes the latents: a z_dim of 1e10 once passed an unchecked cast.
  c.z_dim = json_integer_in(values, "z_dim", c.z_dim, 1, 4096, file);
  c.input_channels = config.positive_integer("input_channels", c.input_channels);
  c.res_blocks = config.positive_integer("num_res_blocks", c.res_blocks);
  c.dim_mult = config.integers("dim_mult", c.dim_mult);
  if (c.dim_mult.empty() || std::any_of(c.dim_mult.begin(), c.dim_mult.end(), [](auto m) { return m <= 0; }))
    throw InputError(file, "\"dim_mult\" must be a list of positive integers");
  if (config.has("temperal_downsample")) {
    const auto& list = values["temperal_downsample"];
    if (!list.is_array() || std::any_of(list.begin(), list.end(), [](const auto& v) { return !v.is_boolean(); }))
      throw InputError(file, "\"temperal_downsample\" must be a list of booleans, not " + list.dump(), kShipped);
    c.temporal_downsample.clear();
    for (const auto& v : list) c.temporal_downsample.push_back(v.get<bool>());
  } else if (c.temporal_downsample.size() + 1 != c.dim_mult.size()) {
    c.temporal_downsample.assign(c.dim_mult.size() - 1, false);
  }
  // diffusers' pipeline scales by 2^len(temperal_downsample); the VAE compresses by 2^(len(dim_mult) - 1):
  // they must agree (a list of 31 once shifted an int by 31 and crashed with SIGFPE).
  const std::size_t downsamplings = c.temporal_downsample.size(), levels = c.dim_mult.size();
  if (downsamplings < 1 || downsamplings > 6 || downsamplings + 1 != levels)
    throw InputError(file,
                     "\"temperal_downsample\" holds " + std::to_string(downsamplings) +
                         " entries; the VAE's \"dim_mult\" (" + std::to_string(levels) + " levels) makes it " +
                         std::to_string(levels - 1) + " (from 1 to 6)",
                     kShipped);
  c.latents_mean = statistics(config, "latents_mean", c.z_dim, -1e3, 1e3, "a mean must be from -1000 to 1000");
  c.latents_std =
      statistics(config, "latents_std", c.z_dim, 1e-3, 1e3, "a standard deviation must be from 0.001 to 1000");
  return c;
}

}  // namespace vramguard
