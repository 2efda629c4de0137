// `vramguard edit MODEL --image IN --prompt TEXT --output OUT.png`: Qwen-Image-Edit's whole edit in
// C++, as diffusers' QwenImageEditPipeline does it, through the guard: every input checked and every
// stage's input made before anything loads (pipelines/qwen_image_edit/edit_inputs), then the runtime
// library loads the three components under the request's strategy and runs the stages
// (pipelines/qwen_image_edit/edit_run). A line per step on a terminal; a summary at the end.
#include <unistd.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <iomanip>
#include <optional>
#include <ostream>
#include <sstream>

#include "cli/command.hpp"
#include "cli/edit_options.hpp"
#include "cli/guard_session.hpp"
#include "core/output_file.hpp"
#include "core/stop_signal.hpp"
#include "engine/parallel_passes.hpp"
#include "engine/request_setup.hpp"
#include "guard/report.hpp"
#include "image/image_file.hpp"
#include "logging/log.hpp"
#include "model/safetensors_writer.hpp"
#include "pipeline_registry.hpp"
#include "qwen_image_edit/edit_inputs.hpp"
#include "qwen_image_edit/edit_outcome.hpp"
#include "request/cli_options.hpp"
#include "run/runtime_library.hpp"
#include "vramguard/byte_size.hpp"
#include "vramguard/cost_model.hpp"

namespace vramguard {
namespace {

double decimal_option(const Invocation& invocation, const std::string& name, double fallback) {
  const auto text = invocation.text(name);
  if (!text) return fallback;
  double value = 0;
  const auto [end, error] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (error != std::errc() || end != text->data() + text->size())
    throw UsageError("--" + name + " '" + *text + "' is not a number", "for example --" + name + " 4.0");
  return value;
}

pipelines::EditSettings edit_settings_from(const Invocation& invocation) {
  pipelines::EditSettings s;
  for (const auto& image : invocation.list("image")) s.images.emplace_back(image);
  if (s.images.empty())
    throw UsageError("no --image given", "pass the picture to edit: --image photo.png (PNG or JPEG)");
  const auto prompt = invocation.text("prompt");
  if (!prompt) throw UsageError("no --prompt given", "say what to change: --prompt \"make the sky stormy\"");
  s.prompt = *prompt;
  s.negative_prompt = invocation.text("negative-prompt");
  s.true_cfg_scale = decimal_option(invocation, "true-cfg-scale", 4.0);
  s.steps = static_cast<int>(invocation.number("steps", 1, 1000).value_or(50));
  const auto seed = invocation.text("seed");
  const auto latents = invocation.text("latents");
  if (seed && latents && !invocation.values["seed"].defaulted())
    throw UsageError("--seed and --latents both give the initial noise", "pass one of them");
  s.seed = invocation.number("seed", 0, UINT64_MAX).value_or(0);
  if (latents) s.latents = *latents;
  if (const auto height = invocation.number("height", 1, 16384)) s.height = static_cast<int>(*height);
  if (const auto width = invocation.number("width", 1, 16384)) s.width = static_cast<int>(*width);
  const std::string tiling = invocation.text("vae-tiling").value_or("auto");
  if (tiling == "auto") s.vae_tiling = pipelines::VaeTilingMode::automatic;
  else if (tiling == "always") s.vae_tiling = pipelines::VaeTilingMode::always;
  else if (tiling == "never") s.vae_tiling = pipelines::VaeTilingMode::never;
  else
    throw UsageError("--vae-tiling '" + tiling + "' is not one of auto, always, never",
                     "auto tiles only where the whole picture would not fit");
  s.cfg_batching = cfg_batching_from(invocation);
  s.vae_tile.tile_pixels = static_cast<int>(invocation.number("vae-tile-size", 16, 16384).value_or(256));
  s.vae_tile.stride_pixels = static_cast<int>(invocation.number("vae-tile-stride", 16, 16384).value_or(192));
  s.max_image_pixels = invocation.number("max-image-pixels", 1, UINT64_MAX).value_or(pipelines::kDefaultMaxImagePixels);
  return s;
}

// --cfg-parallel auto|on|off: what the edit's choice between one load and two may do (engine/parallel_passes).
ParallelPassesMode cfg_parallel_from(const Invocation& invocation) {
  const std::string parallel = invocation.text("cfg-parallel").value_or("auto");
  if (parallel == "auto") return ParallelPassesMode::automatic;
  if (parallel == "on") return ParallelPassesMode::on;
  if (parallel == "off") return ParallelPassesMode::off;
  throw UsageError("--cfg-parallel '" + parallel + "' is not one of auto, on, off",
                   "auto runs true CFG's two passes on two GPUs at once where the plans predict it faster");
}

std::string seconds_text(double seconds) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(seconds < 10 ? 2 : 1) << seconds << " s";
  return out.str();
}

// The peak the edit was predicted to reach on a GPU: the plan's, plus what a step's own activations took
// beyond the plan's headroom, within the room the plan leaves (a VAE call on the whole picture, which the
// plan counted in tiles). Empty where the report has no prediction for the device.
struct PredictedPeak {
  std::uint64_t planned_bytes = 0, beyond_headroom_bytes = 0;
  std::uint64_t bytes() const { return planned_bytes + beyond_headroom_bytes; }
};

// The prediction for a GPU: the load's, or the second load's (CFG-parallel) for the GPU it holds.
const DevicePrediction* device_prediction(const GuardReport& report, const DeviceId& device) {
  if (report.attempts.empty() || !report.attempts.back().prediction) return nullptr;
  return report.attempts.back().prediction->find(device);
}

std::optional<PredictedPeak> predicted_peak(const PipelineRun& run, const pipelines::EditOutcome& o,
                                            const DeviceId& device) {
  const DevicePrediction* d = device_prediction(run.report, device);
  if (d == nullptr && run.parallel_report) d = device_prediction(*run.parallel_report, device);
  if (d == nullptr || d->peak_bytes == 0) return std::nullopt;
  PredictedPeak peak{d->peak_bytes, 0};
  if (const auto it = o.peaks.accounted_activation_bytes.find(device.str());
      it != o.peaks.accounted_activation_bytes.end() && it->second > d->headroom_bytes)
    peak.beyond_headroom_bytes = it->second - d->headroom_bytes;
  return peak;
}

nlohmann::json edit_json(const pipelines::EditInputs& inputs, const pipelines::EditOutcome& o, const PipelineRun& run,
                         const std::string& output, const ParallelPassesChoice& parallel) {
  const GuardReport& report = run.report;
  nlohmann::json steps = nlohmann::json::array();
  for (const auto& s : o.steps)
    steps.push_back({{"step", s.step},
                     {"seconds", s.seconds},
                     {"streamed_bytes", s.streamed_bytes},
                     {"compute_seconds", s.compute_seconds},
                     {"copy_wait_seconds", s.copy_wait_seconds},
                     {"unprefetched_units", s.unprefetched_units},
                     {"allocator_retries", s.allocator_retries}});
  auto per_device = [](const std::map<std::string, std::uint64_t>& bytes) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [device, value] : bytes) out[device] = value;
    return out;
  };
  nlohmann::json by_component = nlohmann::json::object();
  for (const auto& [component, peaks] : o.peaks_by_component)
    for (const auto& [device, bytes] : peaks.peak_bytes) {
      const auto on_device = [&](const std::map<std::string, std::uint64_t>& of) {
        const auto it = of.find(device);
        return it == of.end() ? std::uint64_t{0} : it->second;
      };
      by_component[component][device] = {{"accounted_activation_bytes", on_device(peaks.accounted_activation_bytes)},
                                         {"peak_bytes", bytes},
                                         {"reserved_peak_bytes", on_device(peaks.reserved_peak_bytes)},
                                         {"process_peak_bytes", on_device(peaks.process_peak_bytes)}};
    }
  nlohmann::json pictures = nlohmann::json::array();
  for (const auto& p : inputs.pictures) pictures.push_back({p.vae_width, p.vae_height});
  nlohmann::json predicted = nlohmann::json::object(), planned = nlohmann::json::object();
  // The second load's GPU where it ran (a second load that did not fit predicted nothing that ran).
  for (const GuardReport* load : {&report, run.parallel_report && o.cfg_parallel ? &*run.parallel_report : nullptr})
    if (load != nullptr && !load->attempts.empty() && load->attempts.back().prediction)
      for (const auto& d : load->attempts.back().prediction->devices)
        if (const auto peak = d.device.is_gpu() ? predicted_peak(run, o, d.device) : std::nullopt) {
          predicted[d.device.str()] = peak->bytes();
          planned[d.device.str()] = peak->planned_bytes;
        }
  return {{"output", output},
          {"width", inputs.width},
          {"height", inputs.height},
          {"pictures_encoded_at", pictures},
          {"true_cfg", !inputs.negative_ids.empty()},
          {"ready_seconds", report.statistics.seconds},
          {"text_encoder_seconds", o.text_encoder_seconds},
          {"vae_encode_seconds", o.vae_encode_seconds},
          {"vae_decode_seconds", o.vae_decode_seconds},
          {"vae_encode_tiled", o.vae_encode.tiled},
          {"vae_decode_tiled", o.vae_decode.tiled},
          {"vae_tiling_why", {{"encode", o.vae_encode.why}, {"decode", o.vae_decode.why}}},
          {"cfg_batched", o.cfg_batched},
          {"cfg_apart_why", o.cfg_why},
          {"cfg_parallel",
           {{"ran", o.cfg_parallel},
            {"why", parallel.why},
            {"predicted_one_load_seconds", parallel.one_load_seconds},
            {"predicted_parallel_seconds", parallel.parallel_seconds},
            {"second_load_strategy", run.parallel_report ? run.parallel_report->final_strategy : ""},
            {"second_load", run.parallel_report ? guard_report_json(*run.parallel_report) : nlohmann::json()}}},
          {"steps", steps},
          {"peak_bytes", per_device(o.peaks.peak_bytes)},
          {"reserved_peak_bytes", per_device(o.peaks.reserved_peak_bytes)},
          {"process_peak_bytes", per_device(o.peaks.process_peak_bytes)},
          {"predicted_peak_bytes", predicted},
          {"planned_peak_bytes", planned},
          {"peaks_by_component", by_component},
          {"notes", inputs.notes}};
}

void print_edit_summary(const pipelines::EditInputs& inputs, const pipelines::EditOutcome& o, const PipelineRun& run,
                        const std::string& output, std::ostream& out) {
  const GuardReport& report = run.report;
  double denoising = 0;
  for (const auto& s : o.steps) denoising += s.seconds;
  out << "\nEdit: " << output << " (" << inputs.width << "x" << inputs.height << ", " << o.steps.size() << " steps"
      << (inputs.negative_ids.empty() ? "" : ", true CFG") << ")\n";
  out << "  ready          " << seconds_text(report.statistics.seconds) << "\n";
  out << "  text encoder   " << seconds_text(o.text_encoder_seconds) << "\n";
  auto tiled = [](const pipelines::VaeCallReport& call) {
    return call.tiled ? ", in tiles: " + call.why : std::string();
  };
  std::string sizes;
  for (const auto& p : inputs.pictures)
    sizes += (sizes.empty() ? "" : ", ") + std::to_string(p.vae_width) + "x" + std::to_string(p.vae_height);
  out << "  VAE encode     " << seconds_text(o.vae_encode_seconds) << " ("
      << (inputs.pictures.size() == 1 ? "input" : std::to_string(inputs.pictures.size()) + " pictures") << " at "
      << sizes << tiled(o.vae_encode) << ")\n";
  out << "  denoising      " << seconds_text(denoising);
  if (!o.steps.empty()) {
    out << " (" << seconds_text(denoising / static_cast<double>(o.steps.size())) << " per step";
    if (o.cfg_parallel) out << "; true CFG's passes at once on two GPUs";
    else if (!inputs.negative_ids.empty())
      out << (o.cfg_batched ? "; true CFG's passes as one batch" : "; true CFG's passes apart: " + o.cfg_why);
    out << ")";
  }
  out << "\n  VAE decode     " << seconds_text(o.vae_decode_seconds)
      << (o.vae_decode.tiled ? " (in tiles: " + o.vae_decode.why + ")" : "") << "\n";
  for (const auto& [device, bytes] : o.peaks.peak_bytes) {
    out << "  peak on " << device << "  " << format_bytes(bytes) << " (ours, activations included)";
    for (const GuardReport* load : {&report, run.parallel_report ? &*run.parallel_report : nullptr})
      if (load != nullptr && !load->attempts.empty())
        for (const auto& d : load->attempts.back().budget.devices)
          if (d.name() == device && d.cap_bytes) out << " of the " << format_bytes(*d.cap_bytes) << " cap";
    out << "\n";
    // The figure a cap is judged by: the whole process as nvidia-smi counts it, beside the plan's.
    if (const auto process = o.peaks.process_peak_bytes.find(device); process != o.peaks.process_peak_bytes.end()) {
      out << "  the process   " << format_bytes(process->second) << " at most as the driver counts it (NVML, 50 Hz)";
      if (const auto peak = predicted_peak(run, o, *DeviceId::parse(device))) {
        out << "; predicted " << format_bytes(peak->bytes()) << " (" << (process->second >= peak->bytes() ? "+" : "-")
            << std::fixed << std::setprecision(1)
            << 100.0 * std::abs(static_cast<double>(process->second) - static_cast<double>(peak->bytes())) /
                   static_cast<double>(peak->bytes())
            << " %)";
        if (peak->beyond_headroom_bytes > 0)
          out << ": the plan's " << format_bytes(peak->planned_bytes) << " and "
              << format_bytes(peak->beyond_headroom_bytes)
              << " for a VAE call on the whole picture, which the plan's room allowed";
      }
      out << "\n";
    }
  }
  for (const auto& note : inputs.notes) out << "  note: " << note << "\n";
}

}  // namespace

Command edit_command() {
  CommandSpec spec{
      "edit",
      "edit an image with Qwen-Image-Edit, natively, through the guard: the whole pipeline as diffusers runs it",
      "vramguard edit MODEL --image IN [--image IN2 ...] --prompt TEXT [--negative-prompt TEXT] [--true-cfg-scale S] "
      "[--steps N] [--lora FILE[:SCALE] ...] [--seed N | --latents FILE] [--height H --width W] "
      "[--cfg-batch auto|always|never] [--vae-tiling auto|always|never] --output OUT.png "
      "[--output-latents FILE] "
      "[--config F] [--strategy S] [device, budget and fallback options] [--json] [--report F]",
      "MODEL is a Qwen-Image-Edit folder as diffusers saves it (model_index.json, tokenizer/, processor/, "
      "scheduler/, text_encoder/, transformer/, vae/) or its Hugging Face id in the local cache: the first "
      "Qwen-Image-Edit (one --image) or Edit-2509/2511 (QwenImageEditPlusPipeline: one to 8 pictures, Picture 1 "
      "to N in the order given); model_index.json's _class_name picks the pipeline. Each stage is diffusers': "
      "each picture resized to ~1024x1024 pixels for the VAE, and for the text encoder to the same (the first "
      "Edit) or to ~384x384 (2509/2511), the prompt in the pipeline's template, true CFG when "
      "--negative-prompt is given and --true-cfg-scale is above 1 (even \" \"), FlowMatchEuler with dynamic "
      "shifting. The result's size defaults to the picture's aspect (2509/2511: the last picture's) at "
      "~1024x1024. --latents takes the packed "
      "initial noise (a safetensors file holding 'latents'); --seed draws it as diffusers does with a CPU "
      "generator. The plan knows the edit (the transformer's 2 x steps passes, the text encoder's one per prompt); "
      "true CFG's two passes run as one batch where the plan has room for them (--cfg-batch). --lora applies LoRAs "
      "to the transformer (diffusers', kohya's and ComfyUI's files). "
      "The VAE runs in diffusers' tiles where the loaded plan leaves its whole picture no room, or after it "
      "runs out of memory (--vae-tiling). Every input is checked before anything loads (exit 2 naming it); a "
      "step that runs out of memory otherwise is the guard's business, as in a load.",
      [](CommandOptions& own) {
        declare_planning_options(own);
        declare_guard_options(own);
        // clang-format off
        own.options.add_options()
            ("strategy", po::value<std::string>()->value_name("S")->default_value("auto"), "the first strategy to try")
            ("image", po::value<std::vector<std::string>>()->value_name("IN"),
                "the picture to edit (PNG or JPEG); repeat it for Edit-2509/2511's Picture 1, 2, ...")
            ("prompt", po::value<std::string>()->value_name("TEXT"), "what to change")
            ("negative-prompt", po::value<std::string>()->value_name("TEXT"),
                "what to steer away from; with --true-cfg-scale above 1 it turns true CFG on")
            ("true-cfg-scale", po::value<std::string>()->value_name("S")->default_value("4.0"),
                "true classifier-free guidance's scale")
            ("steps", po::value<std::string>()->value_name("N")->default_value("50"), "denoising steps (1-1000)")
            ("seed", po::value<std::string>()->value_name("N")->default_value("0"),
                "draws the initial noise as diffusers does")
            ("latents", po::value<std::string>()->value_name("FILE"),
                "the packed initial noise instead: a safetensors file holding 'latents'")
            ("height", po::value<std::string>()->value_name("H"), "the result's height in pixels (a multiple of 16)")
            ("width", po::value<std::string>()->value_name("W"), "the result's width in pixels (a multiple of 16)")
            ("vae-tiling", po::value<std::string>()->value_name("auto|always|never")->default_value("auto"),
                "the VAE in overlapping tiles, as diffusers' vae.enable_tiling(): auto where the whole picture's "
                "activations would not fit beside the plan (and after it runs out of memory); never gives diffusers' "
                "untiled result")
            ("cfg-batch", po::value<std::string>()->value_name("auto|always|never")->default_value("auto"),
                "true CFG's two transformer passes as one over a batch of two (each streamed weight copied once a "
                "step): auto where their activations fit in the headroom the edit's other calls need; always plans for "
                "them")
            ("cfg-parallel", po::value<std::string>()->value_name("auto|on|off")->default_value("auto"),
                "true CFG's two transformer passes at the same time on two GPUs, each holding the transformer (its "
                "own plan: resident or streamed): auto where the plans predict it faster than one load's (a layer "
                "split, or both passes on one GPU); on wherever two GPUs are")
            ("vae-tile-size", po::value<std::string>()->value_name("PIXELS")->default_value("256"),
                "a tile's side (diffusers' tile_sample_min_height/width)")
            ("vae-tile-stride", po::value<std::string>()->value_name("PIXELS")->default_value("192"),
                "pixels between tiles; they overlap and blend over size - stride (diffusers' "
                "tile_sample_stride_height/width)")
            ("max-image-pixels", po::value<std::string>()->value_name("N")->default_value("178956970"),
                "a larger --image is refused as a decompression bomb (Pillow's limit); raise it for a huge picture")
            ("output", po::value<std::string>()->value_name("OUT.png"), "where to write the result (PNG)")
            ("output-latents", po::value<std::string>()->value_name("FILE"),
                "also write the final packed latents (safetensors, 'latents')")
            ("report", po::value<std::string>()->value_name("FILE"), "also write the JSON report to FILE")
            ("profile", po::value<std::string>()->value_name("FILE"),
                "profile the steps: a Chrome trace of the CPU's ops and the GPU's kernels to FILE (Perfetto), "
                "the GPU's time by kernel in the report (CUDA builds)");
        // clang-format on
      }};
  return {spec, [](const Invocation& invocation, CommandIO& io) {
            LoadRequest request = load_request_from(invocation);
            refuse_partial_pipeline(request);
            const auto output = invocation.text("output");
            if (!output) throw UsageError("no --output given", "say where to write the result: --output edited.png");
            const pipelines::EditSettings settings = edit_settings_from(invocation);
            const ParallelPassesMode parallel_mode = cfg_parallel_from(invocation);
            const InspectedModel model = inspect_requested(request);
            // No output may replace what the edit reads: any file of the pipeline's folder (weights,
            // configs, tokenizer), the picture, the noise. The outputs' folders are checked too, and the
            // outputs against each other, before anything else is read or loaded.
            protect_folder_from_outputs(model.source.root);
            for (const auto& image : settings.images) protect_from_outputs(image.file);
            if (settings.latents) protect_from_outputs(*settings.latents);
            std::vector<std::pair<std::filesystem::path, std::string>> outputs = {{*output, "the result"}};
            if (const auto file = invocation.text("output-latents")) outputs.emplace_back(*file, "the latents");
            if (const auto file = invocation.text("report")) outputs.emplace_back(*file, "the report");
            if (const auto file = invocation.text("profile")) outputs.emplace_back(*file, "the profile");
            check_output_paths(outputs);
            const std::string profile_file = profile_file_for(invocation.text("profile"));
            // The pipeline the folder's model_index.json names, among the registered ones; every input,
            // and every stage's input, before anything loads.
            const pipelines::PipelineSpec& pipeline = pipelines::pipeline_spec_for(model.source.root);
            if (!pipeline.prepare_edit)
              throw InputError(model.source.root.string(),
                               "is a pipeline that does not edit pictures (" + pipeline.class_names.front() + ")",
                               "vramguard edit runs image-edit pipelines (docs/edit.md)");
            const std::unique_ptr<pipelines::PipelineJob> job = pipeline.prepare_edit(model.source.root, settings);
            auto& inputs = dynamic_cast<pipelines::EditInputs&>(*job);  // every edit's job is one
            const bool simulated = request.simulate.has_value();
            if (simulated) require_host_room_for_simulated_data(model, "an edit");
            const RuntimeLibraryInterface& library = runtime_library();
            // The largest activations of the edit's calls are the GPUs' headroom unless --headroom says
            // otherwise; the plan weighs each component by its passes in the edit.
            const pipelines::PipelineDemands demands = library.check_pipeline(model, *job, compute_on(request));
            const std::uint64_t workspace = default_cost_constants().workspace_bytes;
            // True CFG's passes on two GPUs at once, or in one load: both planned, the faster chosen.
            ParallelPassesChoice parallel;
            std::optional<ParallelLoad> second_load;
            if (!demands.parallel_component.empty()) {
              inputs.negative_pass_elsewhere = true;  // the first load's demands with the other pass elsewhere
              const pipelines::PipelineDemands apart = library.check_pipeline(model, *job, compute_on(request));
              parallel = choose_parallel_passes(
                  request,
                  {demands.parallel_component, demands.activation_bytes + workspace, demands.workload,
                   apart.activation_bytes + workspace, apart.workload, apart.parallel_activation_bytes + workspace},
                  parallel_mode);
              inputs.negative_pass_elsewhere = parallel.parallel;
            } else if (parallel_mode == ParallelPassesMode::on) {
              throw UsageError(
                  "--cfg-parallel on runs true CFG's two passes on two GPUs, and this edit has no true "
                  "CFG (no --negative-prompt, or --true-cfg-scale 1)",
                  "give a --negative-prompt, or leave --cfg-parallel out");
            }
            if (parallel.parallel) {
              request = *parallel.first;
              second_load = ParallelLoad{*parallel.second, inspect_requested(*parallel.second)};
              if (simulated) require_host_room_for_simulated_data(second_load->model, "CFG-parallel's second load");
            } else {
              request = with_demands(request, demands.activation_bytes + workspace, demands.workload);
            }
            if (!parallel.why.empty()) log::info(parallel.why);

            ProgressBar progress;
            const bool terminal = ::isatty(STDERR_FILENO) == 1;
            RunHooks hooks;
            hooks.progress = [&](std::uint64_t done, std::uint64_t total) { progress(done, total); };
            hooks.cancel = &stop_flag();
            hooks.log_level = static_cast<int>(log::level());
            hooks.profile_file = profile_file;
            auto on_step = [&](const pipelines::PipelineStep& step) {
              if (!terminal) return;
              io.err << "step " << step.step << "/" << step.steps << "  " << seconds_text(step.seconds);
              if (step.streamed_bytes) io.err << "  streamed " << format_bytes(step.streamed_bytes);
              io.err << "\n" << std::flush;
            };
            PipelineRun run;
            try {
              run = library.run_pipeline(request, model, *job, hooks, on_step, second_load ? &*second_load : nullptr);
            } catch (const GuardFailure& failure) {
              write_guard_report(invocation, failure.report(), io);
              throw;
            }
            // An image-edit pipeline's outcome (made in the runtime library, whose type information the CLI
            // does not share: the pipeline's registration is the guarantee).
            const auto& outcome = static_cast<const pipelines::EditOutcome&>(*run.outcome);
            pipelines::write_png(*output, outcome.image);
            if (const auto latents = invocation.text("output-latents"))
              write_safetensors(*latents,
                                {{"latents", DType::F32, outcome.final_latents_shape, outcome.final_latents.data()}});
            write_guard_report(invocation, run.report, io, true,
                               {{"edit", edit_json(inputs, outcome, run, *output, parallel)}},
                               [&](std::ostream& out) { print_edit_summary(inputs, outcome, run, *output, out); });
            return 0;
          }};
}

}  // namespace vramguard
