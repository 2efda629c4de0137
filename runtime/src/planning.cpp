#include "vramguard/runtime/plan.hpp"

#include <sstream>

#include "core/stop_signal.hpp"
#include "guard/plan_validator.hpp"
#include "invocation_arguments.hpp"
#include "report/plan_report.hpp"
#include "setup/planning_setup.hpp"
#include "setup/plugin_discovery.hpp"

namespace vramguard::runtime {

PlanResult plan(const std::string& model, const Options& options) {
  const Invocation invocation = parse_options(Work::plan, model, options);
  const PlanningSetup setup = prepare_planning(invocation);
  const PluginRegistry registry = discover_plugins(invocation);
  const std::string name = invocation.text("strategy").value_or("auto");
  const StrategyInstance strategy = registry.create(name);
  Placement placement;
  try {
    placement = strategy.plan({setup.model.graph, setup.budget, setup.workload, strategy_options_for(invocation, name, true)}, &stop_flag());
  } catch (const NoFitError& e) {
    throw explain_no_fit(e, setup.budget, setup.workload);
  }
  const Prediction prediction = validate_plan(setup.model.graph, setup.budget, setup.workload, placement, name);
  nlohmann::json doc = plan_json(setup, placement, prediction);
  doc["hugging_face"] = hugging_face_device_map(setup, placement);
  std::ostringstream text;
  print_plan(setup, placement, prediction, /*with_units=*/true, text);
  return {doc.dump(), text.str()};
}

}  // namespace vramguard::runtime
