#pragma once
// diffusers' FlowMatchEulerDiscreteScheduler as Qwen-Image-Edit configures it: sigmas from 1 down to
// 1/steps, shifted by the image's sequence length (dynamic shifting: mu interpolated between the
// config's base and max shift, exponential or linear time shift), stretched to end at shift_terminal.
// Computed in float32 as diffusers does (NumPy float32 arrays), so the schedule is bit-equal to theirs.
// The step itself (x + (sigma_next - sigma) * velocity) is tensor work: the pipeline does it.
#include <string>
#include <vector>

namespace vramguard::pipelines {

struct FlowMatchEulerConfig {
  int num_train_timesteps = 1000;
  double shift = 1.0;
  bool use_dynamic_shifting = false;
  double base_shift = 0.5, max_shift = 1.15;
  int base_image_seq_len = 256, max_image_seq_len = 4096;
  enum class TimeShift { exponential, linear } time_shift = TimeShift::exponential;
  double shift_terminal = 0;  // 0: no stretch

  // Reads a scheduler_config.json. Throws InputError naming the file and key for a value of the wrong
  // type, and for the options this scheduler does not implement (Karras, exponential or beta sigmas,
  // inverted sigmas, stochastic sampling).
  static FlowMatchEulerConfig from_file(const std::string& scheduler_config_json);
};

struct FlowMatchSchedule {
  std::vector<float> timesteps;  // one per step, sigma * num_train_timesteps
  std::vector<float> sigmas;     // one per step, then the terminal 0
};

// diffusers' calculate_shift: mu for an image of `image_seq_len` packed latent tokens.
double dynamic_shift_mu(const FlowMatchEulerConfig& config, long long image_seq_len);

// set_timesteps(sigmas=linspace(1, 1/steps, steps), mu=...) as the Qwen-Image pipelines call it.
FlowMatchSchedule flow_match_schedule(const FlowMatchEulerConfig& config, int steps, long long image_seq_len);

}  // namespace vramguard::pipelines
