// `vramguard plan MODEL [--strategy S]`: where every unit goes, and what that costs, before any memory is spent.
#include <ostream>

#include "cli/command.hpp"
#include "report/plan_report.hpp"
#include "engine/request_setup.hpp"
#include "request/cli_options.hpp"
#include "core/errors.hpp"
#include "core/output_file.hpp"
#include "vramguard/byte_size.hpp"

namespace vramguard {
Command plan_command() {
  CommandSpec spec{
      "plan", "decide where every unit of a model lives, from headers alone, and predict memory and time",
      "vramguard plan MODEL [--strategy S] [device and budget options] [--units] [--json] [--export-device-map FILE]",
      "Devices are probed (CUDA) or declared (--simulate). usable = min(cap - context, free - reserve) - adapters - "
      "headroom. "
      "The plan is validated before it is shown; a plan that breaks a rule is refused, naming the plugin.",
      [](CommandOptions& own) {
        declare_planning_options(own);
        // clang-format off
        own.options.add_options()
            ("strategy", po::value<std::string>()->value_name("S")->default_value("auto"),
                "the strategy plugin to plan with")
            ("units", po::bool_switch(), "list every unit with its mode, storage and executing device")
            ("export-device-map", po::value<std::string>()->value_name("FILE"),
                "write the placement for accelerate: {\"device_map\": ..., \"execution_map\": ..., \"note\": ...}; "
                "from_pretrained(device_map=...) takes the device_map");
        // clang-format on
      }};
  return {spec, [](const Invocation& invocation, CommandIO& io) {
            const PlannedRequest planned = plan_request(load_request_from(invocation));
            const PlanningSetup& setup = planned.setup;
            const Placement& placement = planned.placement;
            const Prediction& prediction = planned.prediction;
            if (const auto file = invocation.text("export-device-map"))
              write_output_file(*file, hugging_face_device_map(setup, placement).dump(2) + "\n", "the device map");
            if (invocation.flag("json")) io.out << plan_json(setup, placement, prediction).dump(2) << "\n";
            else print_plan(setup, placement, prediction, invocation.flag("units"), io.out);
            return 0;
          }};
}

}  // namespace vramguard
