// A plugin whose plan() throws something that is not a std::exception: the host must turn it into a
// clear error naming the plugin (and, in a load, go on down the fallback ladder), never abort.
#include <vramguard/plugin_api.hpp>

namespace {
class ThrowsAnInt final : public vramguard::PlacementStrategy {
 public:
  vramguard::Placement plan(const vramguard::PlanRequest&) const override { throw 42; }
};
}  // namespace

VRAMGUARD_REGISTER_STRATEGY(ThrowsAnInt, "test-throws-int", "0.1.0", "a plan() that throws an int")
