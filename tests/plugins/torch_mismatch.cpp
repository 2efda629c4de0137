// A plugin that claims to link a libtorch this host does not use.
#include <vramguard/plugin_api.hpp>

namespace {
class Nothing final : public vramguard::PlacementStrategy {
 public:
  vramguard::Placement plan(const vramguard::PlanRequest&) const override { return {}; }
};
std::unique_ptr<vramguard::PlacementStrategy> make() { return std::make_unique<Nothing>(); }
}  // namespace

namespace other_torch {
const vramguard::PluginDescriptor descriptor{vramguard::kPluginApiVersion, 99, 7, "test-other-torch", "1.0.0",
                                             "built against libtorch 99.7", &make};
}
BOOST_DLL_ALIAS(other_torch::descriptor, vramguard_plugin)
