#pragma once
// What an edit made and how it went, libtorch-free: the CLI prints and writes it.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "image/rgb_image.hpp"
#include "pipeline_job.hpp"

namespace vramguard::pipelines {

// One denoising step, as it finishes (the CLI's progress line): both transformer passes with true CFG.
using EditStepReport = PipelineStep;

// How one of the VAE's calls ran: on the whole picture, or in tiles and why.
struct VaeCallReport {
  bool tiled = false;
  std::string why;  // why it tiled (empty when it did not)
};

// The most a set of calls took, per GPU ("cuda:0").
struct CallPeaks {
  std::map<std::string, std::uint64_t> peak_bytes;           // ours at most, activations included
  std::map<std::string, std::uint64_t> reserved_peak_bytes;  // the allocator's, its cache included
  std::map<std::string, std::uint64_t> process_peak_bytes;   // the process's as the driver counts it (NVML)
  // The most activations a call was accounted for (what the prediction is held to beside the plan's
  // headroom: a whole-picture VAE call the plan's room allowed takes more than the tiled one planned).
  std::map<std::string, std::uint64_t> accounted_activation_bytes;
};

struct EditOutcome : PipelineOutcome {
  RgbImage image;                    // the result, 8 bits, as diffusers' PIL output
  std::vector<float> image_values;   // [height, width, 3] in [0, 1], as its output_type="np"
  std::vector<float> final_latents;  // packed, [1, image tokens, channels], as its output_type="latent"
  std::vector<std::int64_t> final_latents_shape;
  double text_encoder_seconds = 0, vae_encode_seconds = 0, vae_decode_seconds = 0;
  VaeCallReport vae_encode, vae_decode;
  // True CFG's passes: as one batch of two (each step's weights copied once), and why not where not.
  bool cfg_batched = false;
  std::string cfg_why;
  bool cfg_parallel = false;  // the negative passes ran on a second GPU, at the same time as the positive
  std::vector<EditStepReport> steps;
  CallPeaks peaks;  // of every call of the edit
  // The same for each component's calls alone, so that a peak beside its prediction can be traced to
  // the call that made it.
  std::map<std::string, CallPeaks> peaks_by_component;
};

}  // namespace vramguard::pipelines
