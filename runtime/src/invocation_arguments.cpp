#include "invocation_arguments.hpp"

#include "core/environment.hpp"
#include "setup/planning_setup.hpp"

namespace vramguard::runtime {
namespace {

CommandSpec spec_for(Work work) {
  if (work == Work::plan)
    return {"plan", "plan a model", "vramguard.plan(MODEL, ...)", "", [](CommandOptions& own) {
              declare_planning_options(own);
              own.options.add_options()("strategy", po::value<std::string>()->default_value("auto"), "the strategy");
            }};
  return {"open", "open a model for running", "Session::open(MODEL, options)", "", [](CommandOptions& own) {
            declare_planning_options(own);
            declare_guard_options(own);
            own.options.add_options()("strategy", po::value<std::string>()->default_value("auto"), "the first strategy")(
                "verify-data", po::bool_switch(), "compare every loaded tensor's bytes with the file's");
          }};
}

}  // namespace

std::vector<std::string> invocation_arguments(Work work, const std::string& model, const Options& options) {
  std::vector<std::string> args = {work == Work::plan ? "plan" : "open", model};
  if (!options.strategy.empty()) args.insert(args.end(), {"--strategy", options.strategy});
  auto add = [&](const char* flag, const std::optional<std::string>& value) {
    if (value) args.insert(args.end(), {flag, *value});
  };
  add("--config", options.config);
  add("--max-memory", options.max_memory);
  add("--reserve", options.reserve);
  add("--headroom", options.headroom);
  add("--pinned-memory", options.pinned_memory);
  add("--cpu-memory", options.cpu_memory);
  add("--dtype", options.dtype);
  add("--simulate", options.simulate);
  add("--unit-rules", options.unit_rules);
  add("--slice-vocabulary", options.slice_vocabulary);
  for (const auto& [key, value] : options.strategy_options) args.insert(args.end(), {"--option", key + "=" + value});
  if (options.tokens > 0) args.insert(args.end(), {"--tokens", std::to_string(options.tokens)});
  if (options.batch > 1) args.insert(args.end(), {"--batch", std::to_string(options.batch)});
  if (work == Work::load) {
    add("--fallback", options.fallback);
    if (options.verify_data) args.push_back("--verify-data");
  }
  args.insert(args.end(), options.extra_arguments.begin(), options.extra_arguments.end());
  return args;
}

Invocation parse_options(Work work, const std::string& model, const Options& options) {
  return parse_invocation(invocation_arguments(work, model, options), {spec_for(work)}, process_environment());
}

}  // namespace vramguard::runtime
