#include "schedulers/flow_match_euler.hpp"

#include <cmath>

#include "core/errors.hpp"
#include "model/json_file.hpp"

namespace vramguard::pipelines {

FlowMatchEulerConfig FlowMatchEulerConfig::from_file(const std::string& scheduler_config_json) {
  const nlohmann::json doc = read_json_file(scheduler_config_json);
  const std::string& file = scheduler_config_json;
  if (!doc.is_object()) throw InputError(file, "is not a JSON object");
  const std::string kind = doc.value("_class_name", std::string("FlowMatchEulerDiscreteScheduler"));
  if (kind != "FlowMatchEulerDiscreteScheduler")
    throw InputError(
        file,
        "names the scheduler '" + kind + "'; vramguard's edit pipeline implements FlowMatchEulerDiscreteScheduler",
        "use the scheduler the Qwen-Image-Edit folder ships with");
  FlowMatchEulerConfig c;
  // Every value bounded where a formula downstream breaks (a zero or negative shift, an exponent of
  // 1e308, a count cast from 0.5): each once made an all-black picture with exit 0.
  c.num_train_timesteps =
      static_cast<int>(json_integer_in(doc, "num_train_timesteps", c.num_train_timesteps, 1, 1'000'000, file));
  c.use_dynamic_shifting = json_bool(doc, "use_dynamic_shifting", c.use_dynamic_shifting, file);
  // A static shift is used only without dynamic shifting (diffusers' shift * s / (1 + (shift - 1) * s)).
  c.shift = c.use_dynamic_shifting ? json_number(doc, "shift", c.shift, file)
                                   : json_number_in(doc, "shift", c.shift, 1e-3, 1e3, file);
  c.base_shift = json_number_in(doc, "base_shift", c.base_shift, -10, 10, file);
  c.max_shift = json_number_in(doc, "max_shift", c.max_shift, -10, 10, file);
  c.base_image_seq_len =
      static_cast<int>(json_integer_in(doc, "base_image_seq_len", c.base_image_seq_len, 1, 1'000'000'000, file));
  c.max_image_seq_len =
      static_cast<int>(json_integer_in(doc, "max_image_seq_len", c.max_image_seq_len, 1, 1'000'000'000, file));
  // The last step's sigma: 1 would leave the picture pure noise (Qwen-Image-Edit's is 0.02).
  if (doc.contains("shift_terminal") && !doc["shift_terminal"].is_null())
    c.shift_terminal = json_number_in(doc, "shift_terminal", 0, 0, 0.5, file);
  const std::string shift_type = doc.value("time_shift_type", std::string("exponential"));
  if (shift_type == "linear") c.time_shift = TimeShift::linear;
  else if (shift_type != "exponential")
    throw InputError(file, "time_shift_type '" + shift_type + "' is neither 'exponential' nor 'linear'");
  for (const char* unsupported :
       {"use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas", "invert_sigmas", "stochastic_sampling"})
    if (json_bool(doc, unsupported, false, file))
      throw InputError(file, std::string(unsupported) + " is true, which vramguard's scheduler does not implement",
                       "set it to false, as Qwen-Image-Edit's own scheduler config has it");
  if (c.use_dynamic_shifting && c.max_image_seq_len == c.base_image_seq_len)
    throw InputError(
        file, "base_image_seq_len and max_image_seq_len are equal: dynamic shifting cannot interpolate between them");
  return c;
}

double dynamic_shift_mu(const FlowMatchEulerConfig& config, long long image_seq_len) {
  const double m = (config.max_shift - config.base_shift) / (config.max_image_seq_len - config.base_image_seq_len);
  const double b = config.base_shift - m * config.base_image_seq_len;
  return static_cast<double>(image_seq_len) * m + b;
}

FlowMatchSchedule flow_match_schedule(const FlowMatchEulerConfig& config, int steps, long long image_seq_len) {
  if (steps < 1) throw UsageError("the number of steps must be at least 1 (it is " + std::to_string(steps) + ")");
  std::vector<float> sigmas(static_cast<std::size_t>(steps));
  // np.linspace(1.0, 1 / steps, steps) in float64, then float32.
  const double last = 1.0 / steps;
  for (int i = 0; i < steps; ++i)
    sigmas[static_cast<std::size_t>(i)] = static_cast<float>(steps == 1 ? 1.0 : 1.0 + (last - 1.0) * i / (steps - 1));
  if (config.use_dynamic_shifting) {
    const double mu = dynamic_shift_mu(config, image_seq_len);
    // The shift's constants are Python floats and the sigmas a float32 array: NumPy computes in float32.
    const float e =
        static_cast<float>(config.time_shift == FlowMatchEulerConfig::TimeShift::exponential ? std::exp(mu) : mu);
    for (auto& s : sigmas) s = e / (e + (1.0f / s - 1.0f));
  } else {
    const auto shift = static_cast<float>(config.shift);
    for (auto& s : sigmas) s = shift * s / (1.0f + (shift - 1.0f) * s);
  }
  // A shift so strong that float32 sigmas stop decreasing (all at 1, or all at 0) leaves steps that
  // denoise nothing: refuse, naming the shift, rather than decode noise.
  for (std::size_t i = 0; i < sigmas.size(); ++i)
    if (!std::isfinite(sigmas[i]) || sigmas[i] <= 0.0f || sigmas[i] > 1.0f || (i > 0 && sigmas[i] >= sigmas[i - 1]))
      throw InputError(
          "the scheduler's config",
          "its shift saturates the schedule at " + std::to_string(image_seq_len) + " image tokens" +
              (config.use_dynamic_shifting ? " (mu " + std::to_string(dynamic_shift_mu(config, image_seq_len)) +
                                                 " from base_shift and max_shift)"
                                           : " (shift " + std::to_string(config.shift) + ")") +
              ": its sigmas no longer decrease from step to step",
          "use the scheduler_config.json the model ships with, or a smaller picture");
  if (config.shift_terminal != 0) {
    // One step leaves the schedule at sigma 1, and stretching it to shift_terminal divides by zero
    // (diffusers gives NaN sigmas there): refuse rather than make noise.
    if (sigmas.back() >= 1.0f)
      throw UsageError(
          "one step cannot reach this scheduler's shift_terminal (" + std::to_string(config.shift_terminal) + ")",
          "use 2 steps or more");
    const float scale = (1.0f - sigmas.back()) / static_cast<float>(1.0 - config.shift_terminal);
    for (auto& s : sigmas) s = 1.0f - (1.0f - s) / scale;
  }
  FlowMatchSchedule schedule;
  for (const float s : sigmas) schedule.timesteps.push_back(s * static_cast<float>(config.num_train_timesteps));
  schedule.sigmas = sigmas;
  schedule.sigmas.push_back(0.0f);
  return schedule;
}

}  // namespace vramguard::pipelines
