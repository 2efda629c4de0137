// The build fails when a type that crosses the plugin boundary changes its layout without a new
// plugin API version: change a struct, and this asks for kPluginApiVersion to be bumped and the new
// fingerprint recorded beside it. (The figure is for x86-64 with libstdc++'s C++11 ABI; the host still
// compares fingerprints at run time everywhere.)
#include "vramguard/plugin_api.hpp"

namespace vramguard {

#if defined(__x86_64__) && defined(__GLIBCXX__) && defined(_GLIBCXX_USE_CXX11_ABI) && _GLIBCXX_USE_CXX11_ABI
static_assert(kPluginApiVersion == 8, "record the new API version's layout fingerprint below");
static_assert(plugin_layout_fingerprint() == 0x07bfd6fdd5838e66ULL,
              "a type that crosses the plugin boundary changed layout: bump kPluginApiVersion in plugin_api.hpp "
              "and record plugin_layout_fingerprint()'s new value here");
#endif

}  // namespace vramguard
