#pragma once
// Planning without loading, for applications and the Python module: what `vramguard plan --json`
// says (devices, units, predictions, the strategy's explanation, the Hugging Face device map) and
// what `vramguard plan --units` prints.
#include <string>

#include "vramguard/runtime/export.hpp"
#include "vramguard/runtime/options.hpp"

namespace vramguard::runtime {

struct PlanResult {
  std::string json;  // plan --json, with "hugging_face": {device_map, execution_map, note}
  std::string text;  // plan --units, as the CLI prints it
};

// Inspects the model, probes (or simulates) the devices, plans with options.strategy and validates the
// plan. Throws InputError/UsageError for bad input, JobError when the strategy finds no fit (with
// what each device would need), PluginError for a broken plugin.
VRAMGUARD_RUNTIME_API PlanResult plan(const std::string& model, const Options& options = {});

}  // namespace vramguard::runtime
