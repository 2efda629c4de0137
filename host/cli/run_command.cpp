// `vramguard run MODEL`: the guard's pipeline with a run stage after verify: the model's adapter runs
// forward passes under the placement, and the report sets what was measured beside what was predicted.
#include <ostream>

#include "cli/command.hpp"
#include "cli/guard_session.hpp"
#include "core/stop_signal.hpp"
#include "run/model_runner.hpp"
#include "run/run_summary.hpp"
#include "setup/model_options.hpp"
#include "setup/planning_setup.hpp"
#include "setup/plugin_discovery.hpp"

namespace vramguard {

Command run_command() {
  CommandSpec spec{"run", "load a model through the guard and run forward passes: step times, streaming, peaks, predicted against measured",
                   "vramguard run MODEL [--strategy S] [--tokens N] [--batch B] [--steps K] [--input ids.safetensors] "
                   "[--output logits.safetensors] [device, budget and fallback options] [--json] [--report F]",
                   "The model's architecture needs an adapter (vramguard run --help lists them: qwen2). Token ids come from "
                   "--input (a safetensors file holding input_ids [batch, tokens]) or are drawn, seeded, for --batch x --tokens. "
                   "A step that runs out of device memory is the guard's business as in a load: released, and run again "
                   "with the next strategy. On --simulate the CPU computes in the GPUs' place.",
                   [](CommandOptions& own) {
                     declare_planning_options(own);
                     declare_guard_options(own);
                     own.options.add_options()
                         ("strategy", po::value<std::string>()->value_name("S")->default_value("auto"), "the first strategy to try")
                         ("steps", po::value<std::string>()->value_name("K")->default_value("3"), "forward passes (1-10000); the first warms up")
                         ("input", po::value<std::string>()->value_name("FILE"), "token ids: a safetensors file with input_ids [batch, tokens]")
                         ("output", po::value<std::string>()->value_name("FILE"), "write the last pass's logits to a safetensors file")
                         ("seed", po::value<std::string>()->value_name("N")->default_value("0"), "seed for generated token ids")
                         ("report", po::value<std::string>()->value_name("FILE"), "also write the JSON report to FILE");
                   }};
  return {spec, [](const Invocation& invocation, CommandIO& io) {
            const InspectedModel model = inspect_from_options(invocation);
            const bool simulated = invocation.text("simulate").has_value();
            if (simulated) require_host_room_for_simulated_data(model, "a run");
            auto runner = load_model_runner();
            RunSettings settings;
            const Workload workload = workload_from(invocation);
            settings.tokens = workload.tokens;
            settings.batch = workload.batch;
            settings.steps = invocation.number("steps", 1, 10'000).value_or(3);
            settings.seed = invocation.number("seed", 0, UINT64_MAX).value_or(0);
            if (const auto input = invocation.text("input")) settings.input = *input;
            if (const auto output = invocation.text("output")) settings.output = *output;
            settings.cancel = &stop_flag();
            runner->check(model, settings);  // an input the adapter cannot run is refused before anything loads

            std::string allocator;
            auto runtime = make_runtime(invocation, /*keep_data=*/simulated, &allocator);
            const PluginRegistry registry = discover_plugins(invocation);
            GuardOptions options = guard_options_from(invocation, model, registry);
            ProgressBar progress;
            options.progress = [&](std::uint64_t done, std::uint64_t total) { progress(done, total); };
            options.cancel = &stop_flag();
            GuardPipeline pipeline(*runtime, registry, model, options);
            RunOutcome outcome;
            GuardResult result = run_reporting_failure(pipeline, invocation, io, allocator,
                                                       [&](LoadedModel& loaded, const Placement& placement, AttemptRecord&) {
                                                         outcome = runner->run(*runtime, model, placement, loaded, settings);
                                                       });
            const AttemptRecord& attempt = result.report.attempts.back();
            const RunSummary summary = summarize_run(outcome, *attempt.prediction, attempt.budget);
            pipeline.unload(result);
            write_guard_report(invocation, result.report, io, true, {{"run", run_summary_json(summary)}},
                               [&](std::ostream& out) { print_run_summary(summary, simulated, out); });
            return 0;
          }};
}

}  // namespace vramguard
