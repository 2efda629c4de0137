#include "cli/edit_options.hpp"

#include "core/errors.hpp"

namespace vramguard {

pipelines::CfgBatching cfg_batching_from(const Invocation& invocation) {
  const std::string batching = invocation.text("cfg-batch").value_or("auto");
  if (batching == "auto") return pipelines::CfgBatching::automatic;
  if (batching == "always") return pipelines::CfgBatching::always;
  if (batching == "never") return pipelines::CfgBatching::never;
  throw UsageError("--cfg-batch '" + batching + "' is not one of auto, always, never",
                   "auto batches true CFG's two passes where the plan leaves them room");
}

void refuse_partial_pipeline(const LoadRequest& request) {
  if (request.inspect.components.empty()) return;
  const std::string& name = request.inspect.components.front();
  throw UsageError("--component " + name + " alone would read that component only, and an edit needs every one",
                   "to take a component's weights from one file, write --component " + name + "=FILE.safetensors");
}

}  // namespace vramguard
