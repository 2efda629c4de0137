// `vramguard serve MODEL`: the model loaded once through the guard, then edits over HTTP the way the
// OpenAI Images API takes them (host/serve/edit_server.hpp), until SIGTERM or Ctrl-C.
#include <algorithm>
#include <cmath>
#include <thread>

#include "cli/command.hpp"
#include "cli/edit_options.hpp"
#include "cli/guard_session.hpp"
#include "config/option_table.hpp"
#include "core/stop_signal.hpp"
#include "engine/request_setup.hpp"
#include "image/image_file.hpp"
#include "logging/log.hpp"
#include "monitor/monitor_page.hpp"
#include "monitor/monitor_report.hpp"
#include "monitor/sampler.hpp"
#include "pipeline_registry.hpp"
#include "request/cli_options.hpp"
#include "serve/edit_server.hpp"
#include "vramguard/byte_size.hpp"
#include "vramguard/cost_model.hpp"

namespace vramguard {
namespace {

// The activations of the largest edit the server takes: a square picture and result of --max-pixels,
// true CFG, the default steps. The load keeps that much headroom, and a request that needs more is
// refused (413) before it waits.
pipelines::PipelineDemands largest_edit_demands(const InspectedModel& model, const pipelines::PipelineSpec& pipeline,
                                                const ServeLimits& limits, ComputeOn compute) {
  const int side = std::max(16, static_cast<int>(std::sqrt(static_cast<double>(limits.max_pixels))) / 16 * 16);
  const pipelines::RgbImage grey{side, side, std::vector<std::uint8_t>(static_cast<std::size_t>(side * side * 3), 128)};
  pipelines::EditSettings settings;
  settings.images.emplace_back("the largest picture served", pipelines::encode_png(grey));
  settings.prompt = "the largest edit served";
  settings.negative_prompt.emplace(1, ' ');  // true CFG: both passes
  settings.steps = limits.default_steps;
  settings.height = settings.width = side;
  const auto job = pipeline.prepare_edit(model.source.root, settings);
  return runtime_library().check_pipeline(model, *job, compute);
}

// The monitor's sampler over the GPUs the server runs on, for its page: NVML, or the simulated GPUs of
// --simulate; none where there is neither (the page then shows the edits alone).
std::unique_ptr<Sampler> gpu_sampler(const Invocation& invocation) {
  std::unique_ptr<GpuSource> source;
  try {
    source = make_gpu_source(invocation);
  } catch (const UsageError& e) {
    log::info("the monitor's page shows no GPU readings: ", e.what());
    return nullptr;
  }
  return std::make_unique<Sampler>(std::move(source), parse_threshold("90%"), 1.0,
                                   [](const Sample&, const std::vector<AlertEvent>&) {});
}

}  // namespace

Command serve_command() {
  CommandSpec spec{
      "serve", "load an image-edit model once and take edits over HTTP, as the OpenAI Images API takes them",
      "vramguard serve MODEL [--listen 127.0.0.1:8089] [--max-queue N] [--timeout S] [--max-image-bytes SIZE] "
      "[--max-pixels N] [--steps N] [--config F] [--strategy S] [--lora FILE[:SCALE]] [device, budget and fallback "
      "options]",
      "MODEL is an image-edit pipeline folder, as vramguard edit takes it. It is loaded once through the guard, "
      "keeping the headroom of the largest edit served (a picture and result of --max-pixels, true CFG); then "
      "POST /v1/images/edits takes multipart/form-data: image (or image[], repeatable for Edit-2509/2511), "
      "prompt, n (1-4: seeds seed, seed+1, ...), size (WIDTHxHEIGHT in multiples of 16, or auto), "
      "response_format (b64_json), and vramguard's negative_prompt, true_cfg_scale, num_inference_steps, seed "
      "and lora (NAME[:SCALE],... among the --lora files given at start, or none); it answers {\"created\", \"data\": "
      "[{\"b64_json\"}]}, PNGs equal to vramguard edit --seed's. "
      "GET /v1/models, /health (503 until loaded, then 200), /metrics (Prometheus) and / (the monitor's page: the "
      "GPUs' memory over time, the running edit's step and the queue; its data at /api/state) too. One GPU worker "
      "takes edits first in, first out; a full queue answers 429 with Retry-After. Every input is checked before it "
      "is queued (400 naming the field, 413 for what is too large); errors take OpenAI's shape, and the server "
      "keeps serving after each. An edit whose client hangs up, or that runs past --timeout, stops at its next "
      "step. SIGTERM or Ctrl-C: no new edits, the running one finishes, the queued get 503, exit 0. Every "
      "option also comes from VRAMGUARD_* variables and --config.",
      [](CommandOptions& own) {
        declare_planning_options(own);
        declare_guard_options(own);
        declare_options(own.options, OptionGroup::serve);
        // clang-format off
        own.options.add_options()
            ("strategy", po::value<std::string>()->value_name("S")->default_value("auto"), "the first strategy to try")
            ("steps", po::value<std::string>()->value_name("N")->default_value("50"),
                "denoising steps when a request does not say (num_inference_steps)")
            ("cfg-batch", po::value<std::string>()->value_name("auto|always|never")->default_value("auto"),
                "true CFG's two passes as one batch, as vramguard edit's --cfg-batch (the same setting gives the same "
                "PNG)");
        // clang-format on
      }};
  return {spec, [](const Invocation& invocation, CommandIO& io) {
            const LoadOptions given = load_options_from(invocation);
            LoadRequest request = load_request_from(invocation, given);
            refuse_partial_pipeline(request);
            // Beyond loopback only with a key, or when the user says in so many words that anyone may edit.
            if (given.api_key && given.api_key->empty())
              throw UsageError("--api-key is empty", "give the key clients will send as 'Authorization: Bearer KEY'");
            const bool no_auth = given.insecure_no_auth.value_or(false);
            if (given.api_key && no_auth)
              throw UsageError("--api-key and --insecure-no-auth contradict each other", "give one of them");
            HttpServerOptions listen =
                listen_options(given.listen.value_or("127.0.0.1:8089"), given.api_key || no_auth, "--listen");
            listen.remote_hint =
                "serve on 127.0.0.1 or ::1; to serve the network, give --api-key KEY (or VRAMGUARD_API_KEY; clients "
                "send 'Authorization: Bearer KEY'), or --insecure-no-auth on a trusted network only";
            EditServerOptions options;
            options.max_queue = given.max_queue.value_or(8);
            options.timeout_seconds = static_cast<double>(given.timeout.value_or(600));
            options.idle_unload_seconds = given.idle_unload;
            options.api_key = given.api_key;
            options.limits.max_image_bytes = given.max_image_bytes ? given.max_image_bytes->bytes : 20'000'000;
            options.limits.max_pixels = given.max_pixels.value_or(1 << 20);
            options.limits.default_steps = static_cast<int>(invocation.number("steps", 1, 1000).value_or(50));
            options.cfg_batching = cfg_batching_from(invocation);
            const InspectedModel model = inspect_requested(request);
            options.model_id = model.source.argument;
            const pipelines::PipelineSpec& pipeline = pipelines::pipeline_spec_for(model.source.root);
            if (!pipeline.prepare_edit)
              throw InputError(model.source.root.string(),
                               "is a pipeline that does not edit pictures (" + pipeline.class_names.front() + ")",
                               "vramguard serve serves image-edit pipelines (docs/edit.md)");
            if (request.simulate) require_host_room_for_simulated_data(model, "serving");

            const pipelines::PipelineDemands demands =
                largest_edit_demands(model, pipeline, options.limits, compute_on(request));
            if (!request.budget.headroom)
              request.budget.headroom = demands.activation_bytes + default_cost_constants().workspace_bytes;
            for (const auto& [component, work] : demands.workload.components)
              request.workload.components[component] = work;

            // Up to 8 pictures and the fields; a --max-image-bytes too large to multiply takes the largest body.
            listen.max_body_bytes =
                std::min<std::uint64_t>(options.limits.max_image_bytes, UINT64_MAX / 16) * 8 + 1'000'000;
            listen.io_timeout_seconds = 60;
            // On SIGTERM the last edit's picture (megabytes of base64) is written before the process ends.
            listen.drain_seconds = 30;
            listen.max_connections = 16;  // bodies of up to 8 pictures each: bounded memory for what is read
            listen.name = "vramguard serve";
            listen.error_response = [](int status, const std::string& message) {
              return HttpResponse{status, "application/json", ApiError(status, message).json()};
            };
            const std::unique_ptr<Sampler> sampler = gpu_sampler(invocation);
            EditServer server(std::move(request), model, pipeline, demands.activation_bytes, options);
            HttpServer http(listen, [&server, &sampler](HttpRequest r, HttpServer::Respond respond,
                                                        std::shared_ptr<const std::atomic<bool>> closed) {
              const std::string path = r.target.substr(0, r.target.find('?'));
              if (path == "/favicon.ico") return respond({204, "image/x-icon", ""});  // browsers ask; not counted
              if (r.method == "GET" && (path == "/" || path == "/index.html"))
                return respond({200, "text/html; charset=utf-8", std::string(monitor_page_html())});
              if (r.method == "GET" && path == "/api/state") {
                MonitorState gpus;
                if (sampler) gpus = sampler->state();
                else gpus.source = "none";
                nlohmann::json state = state_json(gpus);
                state["queue"] = server.queue_json();
                return respond({200, "application/json", state.dump()});
              }
              server.handle(std::move(r), std::move(respond), std::move(closed));
            });
            if (sampler) sampler->start();
            io.err << "vramguard serve: " << http.url() << " (POST /v1/images/edits; GET /health answers 200 once "
                   << "loaded)\n"
                   << std::flush;
            server.start();
            // Until SIGTERM or Ctrl-C; a model that cannot be loaded ends it (exit 1, the guard's reason).
            while (!stop_requested() && server.load_failure().empty())
              std::this_thread::sleep_for(std::chrono::milliseconds(100));
            if (const std::string failure = server.load_failure(); !failure.empty())
              throw JobError("the model could not be loaded: " + failure,
                             "vramguard load MODEL with the same options shows the guard's report");
            log::info("stopping: the running edit finishes, the queued are answered 503");
            server.shut_down();
            http.stop();
            if (sampler) sampler->stop();
            return 0;
          }};
}

}  // namespace vramguard
