// A well-formed test plugin: everything resident on the first GPU. Built twice (under two file names)
// to test duplicate names.
#include <vramguard/plugin_api.hpp>

namespace {

class AllOnFirstGpu final : public vramguard::PlacementStrategy {
 public:
  vramguard::Placement plan(const vramguard::PlanRequest& request) const override {
    vramguard::Placement placement;
    placement.strategy = "test-good";
    for (const auto& component : request.model.components)
      for (const auto& unit : component.units)
        placement.units.push_back({component.name, unit.name, vramguard::DeviceId::gpu(0),
                                   vramguard::PlacementMode::resident, vramguard::DeviceId::gpu(0)});
    placement.explanation = "test plugin: everything on cuda:0";
    return placement;
  }
  static std::vector<vramguard::StrategyOptionInfo> options() {
    return {{"depth", "1-3", "a test option (default 1)"}};
  }
};

}  // namespace

VRAMGUARD_REGISTER_STRATEGY(AllOnFirstGpu, "test-good", "1.2.3", "test plugin that places everything on cuda:0")
