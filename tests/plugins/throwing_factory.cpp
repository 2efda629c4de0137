// A plugin whose factory throws: discovery must report it and carry on.
#include <stdexcept>

#include <vramguard/plugin_api.hpp>

namespace {
class Fragile final : public vramguard::PlacementStrategy {
 public:
  Fragile() { throw std::runtime_error("fragile strategy cannot start: missing calibration table"); }
  vramguard::Placement plan(const vramguard::PlanRequest&) const override { return {}; }
};
}  // namespace

VRAMGUARD_REGISTER_STRATEGY(Fragile, "test-throwing", "0.1.0", "a factory that throws")
