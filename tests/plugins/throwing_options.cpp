// A test plugin whose option list throws: refused at discovery, naming why, and the others still work.
#include <stdexcept>
#include <vramguard/plugin_api.hpp>

namespace {

class ThrowsListingItsOptions final : public vramguard::PlacementStrategy {
 public:
  vramguard::Placement plan(const vramguard::PlanRequest&) const override { return {}; }
  static std::vector<vramguard::StrategyOptionInfo> options() { throw std::runtime_error("options are not ready"); }
};

}  // namespace

VRAMGUARD_REGISTER_STRATEGY(ThrowsListingItsOptions, "test-throwing-options", "1.0.0",
                            "test plugin whose option list throws")
