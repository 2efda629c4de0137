#include "request_from_options.hpp"

#include "core/environment.hpp"
#include "request/cli_options.hpp"

namespace vramguard::runtime {
namespace {

// The options a plan or a load understands: `vramguard plan`'s or `load`'s.
CommandSpec spec_for(Work work) {
  if (work == Work::plan)
    return {"plan", "plan a model", "vramguard.plan(MODEL, ...)", "", [](CommandOptions& own) {
              declare_planning_options(own);
              // clang-format off
              own.options.add_options()
                  ("strategy", po::value<std::string>()->default_value("auto"), "the strategy");
              // clang-format on
            }};
  return {"open", "open a model for running", "Session::open(MODEL, options)", "", [](CommandOptions& own) {
            declare_planning_options(own);
            declare_guard_options(own);
            // clang-format off
            own.options.add_options()
                ("strategy", po::value<std::string>()->default_value("auto"), "the first strategy")
                ("verify-data", po::bool_switch(), "compare every loaded tensor's bytes with the file's");
            // clang-format on
          }};
}

}  // namespace

LoadRequest request_from_options(const std::string& model, const Options& options, Work work) {
  std::vector<std::pair<std::string, std::string>> settings = {{"model", model}};
  if (!options.strategy.empty()) settings.emplace_back("strategy", options.strategy);
  auto add = [&](const char* name, const std::optional<std::string>& value) {
    if (value) settings.emplace_back(name, *value);
  };
  add("config", options.config);
  add("max-memory", options.max_memory);
  add("reserve", options.reserve);
  add("headroom", options.headroom);
  add("adapter-memory", options.adapter_memory);
  add("pinned-memory", options.pinned_memory);
  add("cpu-memory", options.cpu_memory);
  add("dtype", options.dtype);
  add("simulate", options.simulate);
  add("unit-rules", options.unit_rules);
  add("slice-vocabulary", options.slice_vocabulary);
  for (const auto& [key, value] : options.strategy_options) settings.emplace_back("option", key + "=" + value);
  if (options.tokens > 0) settings.emplace_back("tokens", std::to_string(options.tokens));
  if (options.batch > 1) settings.emplace_back("batch", std::to_string(options.batch));
  add("job", options.job);
  if (work == Work::load) {
    add("fallback", options.fallback);
    if (options.verify_data) settings.emplace_back("verify-data", "true");
  }
  settings.insert(settings.end(), options.settings.begin(), options.settings.end());
  return load_request_from(invocation_from_settings(spec_for(work), settings, process_environment()));
}

}  // namespace vramguard::runtime
