// `vramguard run MODEL`: the guard's pipeline with a run stage after verify: the component's family
// (architectures/) runs one entry point under the placement, and the report sets what was measured
// beside what was predicted.
#include <ostream>

#include "vramguard/cost_model.hpp"
#include "cli/command.hpp"
#include "cli/guard_session.hpp"
#include "core/output_file.hpp"
#include "core/stop_signal.hpp"
#include "run/model_runner.hpp"
#include "run/run_summary.hpp"
#include "setup/model_options.hpp"
#include "setup/planning_setup.hpp"
#include "setup/plugin_discovery.hpp"

namespace vramguard {

Command run_command() {
  CommandSpec spec{"run", "load a model through the guard and run one of its components: step times, streaming, peaks, predicted against measured",
                   "vramguard run MODEL [--component NAME] [--entry NAME] [--strategy S] [--input IN.safetensors | --tokens N "
                   "--batch B --height H --width W] [--steps K] [--output OUT.safetensors] [device, budget and fallback options] "
                   "[--json] [--report F]",
                   "Families run natively: qwen2 (forward: input_ids -> logits), qwenimage_transformer (forward: hidden_states, "
                   "encoder_hidden_states, encoder_hidden_states_mask, timestep, img_shapes -> sample), qwenimage_vae (encode: "
                   "image -> encoded_mean; decode: latents -> decoded). --input is a safetensors file holding the entry's inputs "
                   "by those names; without it, seeded inputs of --batch, --tokens (text) and --height/--width (pixels) are drawn. "
                   "--output writes the last call's outputs by name. A step that runs out of device memory is the guard's "
                   "business as in a load: released, and run again with the next strategy. On --simulate the CPU computes "
                   "in the GPUs' place.",
                   [](CommandOptions& own) {
                     declare_planning_options(own);
                     declare_guard_options(own);
                     declare_image_size_options(own);
                     own.options.add_options()
                         ("strategy", po::value<std::string>()->value_name("S")->default_value("auto"), "the first strategy to try")
                         ("component", po::value<std::string>()->value_name("NAME"), "the component to run (transformer, vae, text_encoder...); default: the first one vramguard runs")
                         ("entry", po::value<std::string>()->value_name("NAME"), "the entry point (the VAE's encode or decode); default: the family's first")
                         ("steps", po::value<std::string>()->value_name("K")->default_value("3"), "calls of the entry (1-10000); the first warms up")
                         ("input", po::value<std::string>()->value_name("FILE"), "a safetensors file holding the entry's inputs by name")
                         ("output", po::value<std::string>()->value_name("FILE"), "write the last call's outputs, by name, to a safetensors file")
                         ("seed", po::value<std::string>()->value_name("N")->default_value("0"), "seed for generated inputs")
                         ("report", po::value<std::string>()->value_name("FILE"), "also write the JSON report to FILE");
                   }};
  return {spec, [](const Invocation& invocation, CommandIO& io) {
            const InspectedModel model = inspect_from_options(invocation);
            // Outputs that would overwrite the model, or follow a link, are refused before any work.
            for (const auto& [option, what] : {std::pair{"output", "the outputs"}, std::pair{"report", "the report"}})
              if (const auto file = invocation.text(option)) check_output_path(*file, what);
            const bool simulated = invocation.text("simulate").has_value();
            if (simulated) require_host_room_for_simulated_data(model, "a run");
            auto runner = load_model_runner();
            RunSettings settings;
            const Workload workload = workload_from(invocation);
            settings.tokens = workload.tokens;
            settings.batch = workload.batch;
            settings.steps = invocation.number("steps", 1, 10'000).value_or(3);
            settings.seed = invocation.number("seed", 0, UINT64_MAX).value_or(0);
            settings.height = image_size_from(invocation).height;
            settings.width = image_size_from(invocation).width;
            if (const auto component = invocation.text("component")) settings.component = *component;
            if (const auto entry = invocation.text("entry")) settings.entry = *entry;
            if (const auto input = invocation.text("input")) settings.input = *input;
            if (const auto output = invocation.text("output")) settings.output = *output;
            settings.cancel = &stop_flag();
            // Inputs the family cannot run are refused before anything loads; the activations they
            // predict are the GPUs' headroom unless --headroom says otherwise.
            const std::uint64_t activation_bytes = runner->check(model, settings);

            std::string allocator;
            auto runtime = make_runtime(invocation, /*keep_data=*/simulated, &allocator);
            const PluginRegistry registry = discover_plugins(invocation);
            GuardOptions options = guard_options_from(invocation, model, registry);
            if (!options.budget.headroom) options.budget.headroom = activation_bytes + default_cost_constants().workspace_bytes;
            ProgressBar progress;
            options.progress = [&](std::uint64_t done, std::uint64_t total) { progress(done, total); };
            options.cancel = &stop_flag();
            GuardPipeline pipeline(*runtime, registry, model, options);
            std::vector<RunOutcome> outcomes;
            GuardResult result = run_reporting_failure(pipeline, invocation, io, allocator,
                                                       [&](LoadedModel& loaded, const Placement& placement, AttemptRecord&) {
                                                         outcomes = runner->run(*runtime, model, placement, loaded, settings);
                                                       });
            const AttemptRecord& attempt = result.report.attempts.back();
            const RunSummary summary = summarize_run(outcomes.at(0), *attempt.prediction, attempt.budget);
            pipeline.unload(result);
            write_guard_report(invocation, result.report, io, true, {{"run", run_summary_json(summary)}},
                               [&](std::ostream& out) { print_run_summary(summary, simulated, out); });
            return 0;
          }};
}

}  // namespace vramguard
