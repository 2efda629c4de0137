#include "request/load_request.hpp"

namespace vramguard {

StrategyOptions LoadRequest::strategy_options_for(const std::string& name, bool bare_keys_apply) const {
  StrategyOptions options;
  if (const auto it = config_strategy_options.find(name); it != config_strategy_options.end()) options = it->second;
  for (const auto& setting : option_settings)
    if (setting.strategy ? *setting.strategy == name : bare_keys_apply) options[setting.key] = setting.value;
  return options;
}

Workload LoadRequest::planned_workload() const {
  Workload planned = workload;
  planned.fp8_matmuls = fp8_compute != Fp8Compute::Mode::off;
  return planned;
}

}  // namespace vramguard
