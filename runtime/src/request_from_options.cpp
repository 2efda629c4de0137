#include "request_from_options.hpp"

#include "config/option_table.hpp"
#include "core/environment.hpp"
#include "request/cli_options.hpp"

namespace vramguard::runtime {
namespace {

void declare_strategy(CommandOptions& own) {
  own.options.add_options()("strategy", po::value<std::string>()->default_value("auto"), "the first strategy");
}

// The options a plan or a load understands: `vramguard plan`'s or `load`'s.
CommandSpec spec_for(Work work) {
  if (work == Work::plan)
    return {"plan", "plan a model", "vramguard.plan(MODEL, ...)", "", [](CommandOptions& own) {
              declare_planning_options(own);
              declare_strategy(own);
            }};
  return {"open", "open a model for running", "Session::open(MODEL, options)", "", [](CommandOptions& own) {
            declare_planning_options(own);
            declare_guard_options(own);
            declare_options(own.options, OptionGroup::load);
            declare_strategy(own);
          }};
}

}  // namespace

LoadRequest request_from_options(const std::string& model, const Options& options, Work work) {
  std::vector<std::pair<std::string, std::string>> settings = {{"model", model}};
  if (!options.strategy.empty()) settings.emplace_back("strategy", options.strategy);
  std::vector<std::pair<std::string, std::string>> given = option_settings(options);
  given.insert(given.end(), options.settings.begin(), options.settings.end());
  for (auto& setting : given) {
    // A plan takes the options of a plan: what only a load reads (Python passes apply()'s keywords to
    // both) is left to the load. A name no option has still fails below.
    const OptionDeclaration* declaration = option_named(setting.first);
    if (work == Work::plan && declaration != nullptr && declaration->group != OptionGroup::plugins &&
        declaration->group != OptionGroup::model && declaration->group != OptionGroup::planning)
      continue;
    settings.push_back(std::move(setting));
  }
  // A config file serves every command: a plan reads past the keys only a load takes.
  return load_request_from(invocation_from_settings(spec_for(work), settings, process_environment(),
                                                    {spec_for(Work::plan), spec_for(Work::load)}));
}

}  // namespace vramguard::runtime
