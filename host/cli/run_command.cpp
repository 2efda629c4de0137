// `vramguard run MODEL`: the guard's pipeline with a run stage after verify: the component's family
// (architectures/) runs one entry point under the placement, and the report sets what was measured
// beside what was predicted.
#include <ostream>

#include "vramguard/cost_model.hpp"
#include "cli/command.hpp"
#include "cli/guard_session.hpp"
#include "core/output_file.hpp"
#include "core/stop_signal.hpp"
#include "logging/log.hpp"
#include "run/runtime_library.hpp"
#include "run/run_summary.hpp"
#include "engine/request_setup.hpp"
#include "request/cli_options.hpp"

namespace vramguard {

Command run_command() {
  CommandSpec spec{
      "run",
      "load a model through the guard and run one of its components: step times, streaming, peaks, predicted against "
      "measured",
      "vramguard run MODEL [--component NAME] [--entry NAME] [--strategy S] [--input IN.safetensors | --tokens N "
      "--batch B --height H --width W] [--steps K] [--output OUT.safetensors] [device, budget and fallback options] "
      "[--json] [--report F]",
      "A component runs when the runtime library has its family (listed below, with each entry's inputs and "
      "outputs). --input is a safetensors file holding the entry's inputs by those names; without it, seeded inputs of "
      "--batch, --tokens (text) and --height/--width (pixels) are drawn. "
      "--output writes the last call's outputs by name. A step that runs out of device memory is the guard's "
      "business as in a load: released, and run again with the next strategy. On --simulate the CPU computes "
      "in the GPUs' place.",
      [](CommandOptions& own) {
        declare_planning_options(own);
        declare_guard_options(own);
        declare_image_size_options(own);
        // clang-format off
        own.options.add_options()
            ("strategy", po::value<std::string>()->value_name("S")->default_value("auto"), "the first strategy to try")
            ("entry", po::value<std::string>()->value_name("NAME"),
                "the entry point (the VAE's encode or decode); default: the family's first")
            ("steps", po::value<std::string>()->value_name("K")->default_value("3"),
                "calls of the entry (1-10000); the first warms up")
            ("input", po::value<std::string>()->value_name("FILE"),
                "a safetensors file holding the entry's inputs by name")
            ("output", po::value<std::string>()->value_name("FILE"),
                "write the last call's outputs, by name, to a safetensors file")
            ("seed", po::value<std::string>()->value_name("N")->default_value("0"), "seed for generated inputs")
            ("report", po::value<std::string>()->value_name("FILE"), "also write the JSON report to FILE")
            ("profile", po::value<std::string>()->value_name("FILE"),
                "profile the steps: a Chrome trace of the CPU's ops and the GPU's kernels to FILE (Perfetto), "
                "the GPU's time by kernel in the report (CUDA builds)");
        // clang-format on
      }};
  // The families come from the runtime library, as each registers itself (architectures/CMakeLists.txt).
  spec.more_help = [] {
    std::string text = "Families the runtime library runs natively, with their entries (the first is the default):\n";
    try {
      for (const auto& line : runtime_library().families()) text += "  " + line + "\n";
    } catch (const Error& e) {
      text += "  (the runtime library cannot be opened here: " + std::string(e.what()) + ")\n";
    }
    return text;
  };
  return {spec, [](const Invocation& invocation, CommandIO& io) {
            // --component NAME picks the component that runs (default: the first one vramguard runs); it
            // has the devices to itself: the others are neither read nor loaded.
            LoadRequest request = load_request_from(invocation);
            if (request.inspect.components.size() > 1)
              throw UsageError(
                  "run runs one component; --component names " + std::to_string(request.inspect.components.size()),
                  "name the one to run: --component transformer");
            const InspectedModel model = inspect_requested(request);
            // Outputs that would overwrite the model or the inputs, follow a link, land in a folder that
            // cannot take them, or replace each other are refused before any work.
            if (const auto input = invocation.text("input")) protect_from_outputs(*input);
            std::vector<std::pair<std::filesystem::path, std::string>> outputs;
            for (const auto& [option, what] : {std::pair{"output", "the outputs"}, std::pair{"report", "the report"},
                                               std::pair{"profile", "the profile"}})
              if (const auto file = invocation.text(option)) outputs.emplace_back(*file, what);
            check_output_paths(outputs);
            const std::string profile_file = profile_file_for(invocation.text("profile"));
            const bool simulated = request.simulate.has_value();
            if (simulated) require_host_room_for_simulated_data(model, "a run");
            const RuntimeLibraryInterface& library = runtime_library();
            RunSettings settings;
            settings.tokens = request.workload.tokens;
            settings.batch = request.workload.batch;
            settings.steps = invocation.number("steps", 1, 10'000).value_or(3);
            settings.seed = invocation.number("seed", 0, UINT64_MAX).value_or(0);
            settings.height = image_size_from(invocation).height;
            settings.width = image_size_from(invocation).width;
            if (!request.inspect.components.empty()) settings.component = request.inspect.components.front();
            if (const auto entry = invocation.text("entry")) settings.entry = *entry;
            if (const auto input = invocation.text("input")) settings.input = *input;
            if (const auto output = invocation.text("output")) settings.output = *output;
            // Inputs the family cannot run are refused before anything loads; the activations they
            // predict are the GPUs' headroom unless --headroom says otherwise.
            const std::uint64_t activation_bytes = library.check(model, settings, compute_on(request));
            if (!request.budget.headroom)
              request.budget.headroom = activation_bytes + default_cost_constants().workspace_bytes;

            ProgressBar progress;
            RunHooks hooks;
            hooks.progress = [&](std::uint64_t done, std::uint64_t total) { progress(done, total); };
            hooks.cancel = &stop_flag();
            hooks.log_level = static_cast<int>(log::level());
            hooks.profile_file = profile_file;
            RunResult result;
            try {
              result = library.run(request, model, settings, hooks);
            } catch (const GuardFailure& failure) {
              write_guard_report(invocation, failure.report(), io);
              throw;
            }
            const AttemptRecord& attempt = result.report.attempts.back();
            const RunSummary summary = summarize_run(result.outcomes.at(0), *attempt.prediction, attempt.budget);
            write_guard_report(invocation, result.report, io, true, {{"run", run_summary_json(summary)}},
                               [&](std::ostream& out) { print_run_summary(summary, simulated, out); });
            return 0;
          }};
}

}  // namespace vramguard
