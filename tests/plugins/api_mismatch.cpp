// A plugin built for a future plugin API: the host must refuse it, printing both versions.
#include <vramguard/plugin_api.hpp>

namespace {
class Nothing final : public vramguard::PlacementStrategy {
 public:
  vramguard::Placement plan(const vramguard::PlanRequest&) const override { return {}; }
};
std::unique_ptr<vramguard::PlacementStrategy> make() { return std::make_unique<Nothing>(); }
}  // namespace

namespace future_api {
const vramguard::PluginDescriptor descriptor{vramguard::kPluginApiVersion + 41, 0, 0, "test-future", "9.0.0",
                                             "built for another API", &make};
}
BOOST_DLL_ALIAS(future_api::descriptor, vramguard_plugin)
