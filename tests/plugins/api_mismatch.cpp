// A plugin built for a future plugin API: the host must refuse it, printing both versions, before it
// reads any other field (which a future layout could have moved).
#include <vramguard/plugin_api.hpp>

namespace future_api {
struct FutureDescriptor {
  int api_version;
  const char* something_new;
};
extern const FutureDescriptor descriptor;
const FutureDescriptor descriptor{vramguard::kPluginApiVersion + 41, "a field this host does not know"};
}  // namespace future_api
BOOST_DLL_ALIAS(future_api::descriptor, vramguard_plugin)
