#include "vramguard/runtime/plan.hpp"

#include <sstream>

#include "engine/request_setup.hpp"
#include "report/plan_report.hpp"
#include "request_from_options.hpp"

namespace vramguard::runtime {

PlanResult plan(const std::string& model, const Options& options) {
  const PlannedRequest planned = plan_request(request_from_options(model, options, Work::plan));
  nlohmann::json doc = plan_json(planned.setup, planned.placement, planned.prediction);
  doc["hugging_face"] = hugging_face_device_map(planned.setup, planned.placement);
  std::ostringstream text;
  print_plan(planned.setup, planned.placement, planned.prediction, /*with_units=*/true, text);
  return {doc.dump(), text.str()};
}

}  // namespace vramguard::runtime
