// `vramguard doctor [MODEL]`: what decides whether a model loads here, each finding with its severity,
// cause and remedy. Exit 0 when nothing blocks a load, 1 when something does.
#include <ostream>

#include "cli/command.hpp"
#include "core/output_file.hpp"
#include "diagnose/doctor.hpp"
#include "engine/request_setup.hpp"
#include "request/cli_options.hpp"

namespace vramguard {

Command doctor_command() {
  CommandSpec spec{
      "doctor",
      "check what decides whether a model loads here: GPUs, their link and processes, allocator, host memory, memlock",
      "vramguard doctor [MODEL] [--config F] [device and budget options] [--json] [--write-config F]",
      "Per GPU: name, compute capability, driver and CUDA versions, memory, PCIe link and the pinned bandwidth "
      "measured now, "
      "ECC and MIG where NVML has them; every process holding GPU memory (yours marked); the allocator settings and "
      "who "
      "set them; host memory and the memlock limit; with MODEL, the page cache's hold on its files, which strategies "
      "fit "
      "now, and a config that would work (--write-config). Exit 0 when nothing blocks a load, 1 when something does.",
      [](CommandOptions& own) {
        declare_planning_options(own);
        declare_guard_options(own);
        // clang-format off
        own.options.add_options()
            ("strategy", po::value<std::string>()->value_name("S"),
                "the strategy you load with (a config's `strategy` key counts): the verdict keeps it where the "
                "fastest that fits is within 2 % of it, as compare's does")
            ("write-config", po::value<std::string>()->value_name("FILE"),
                "with MODEL: write a config that loads it with what is free now");
        // clang-format on
      }};
  return {spec, [](const Invocation& invocation, CommandIO& io) {
            const LoadRequest request = load_request_from(invocation, /*model_required=*/false);
            std::optional<InspectedModel> model;
            if (!request.model.empty()) model.emplace(inspect_requested(request));
            const auto write_config = invocation.text("write-config");
            if (write_config && !model)
              throw UsageError("--write-config needs a MODEL", "vramguard doctor MODEL --write-config my.ini");
            auto runtime = make_runtime(request);
            std::optional<PluginRegistry> registry;
            if (model) registry.emplace(discover_plugins(request.plugins));
            const DoctorReport report =
                diagnose(*runtime, request, model ? &*model : nullptr, registry ? &*registry : nullptr);
            if (write_config) {
              if (report.config_text.empty())
                throw JobError(
                    "no config to write: no strategy fits " + model->source.argument + " now",
                    "free GPU memory or change the caps (the findings say what blocks), then run doctor again");
              write_output_file(*write_config, report.config_text, "the config");
            }
            if (invocation.flag("json")) io.out << doctor_json(report).dump(2) << "\n";
            else {
              print_doctor(report, io.out);
              if (write_config) io.out << "Wrote " << *write_config << " (strategy " << *report.recommended << ")\n";
            }
            return report.blocked() ? static_cast<int>(ExitCode::job_failed) : 0;
          }};
}

}  // namespace vramguard
