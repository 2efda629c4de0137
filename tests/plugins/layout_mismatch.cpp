// A plugin whose SDK types had another layout (a changed struct, no new API version): the host must
// refuse it by the layout fingerprint, without calling into it.
#include <vramguard/plugin_api.hpp>

namespace {
class Nothing final : public vramguard::PlacementStrategy {
 public:
  vramguard::Placement plan(const vramguard::PlanRequest&) const override { return {}; }
};
}  // namespace

namespace other_layout {
extern const vramguard::PluginDescriptor descriptor;
const vramguard::PluginDescriptor descriptor{vramguard::kPluginApiVersion,
                                             vramguard::plugin_layout_fingerprint() ^ 1,
                                             vramguard::plugin_standard_library(),
                                             "test-other-layout",
                                             "1.0.0",
                                             "built against SDK types of another layout",
                                             &vramguard::detail::create_strategy<Nothing>,
                                             &vramguard::detail::destroy_strategy,
                                             &vramguard::detail::plan_guarded,
                                             &vramguard::detail::describe_options<Nothing>};
}  // namespace other_layout
BOOST_DLL_ALIAS(other_layout::descriptor, vramguard_plugin)
