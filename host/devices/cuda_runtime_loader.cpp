#include <dlfcn.h>

#include <filesystem>
#include <system_error>

#include "core/install_paths.hpp"
#include "devices/device_runtime.hpp"
#include "logging/log.hpp"

namespace vramguard {
namespace {

constexpr const char* kModuleName = "libvramguard_cuda_runtime.so";

// The module lies beside whatever binary holds this code: the CLI (bin/ → lib/vramguard/), the runtime
// library (lib/ → lib/vramguard/) or the Python extension (the package folder). VRAMGUARD_CUDA_RUNTIME
// names it explicitly.
std::filesystem::path cuda_runtime_module() {
  if (const char* explicit_path = std::getenv("VRAMGUARD_CUDA_RUNTIME"); explicit_path && *explicit_path) return explicit_path;
  const std::filesystem::path name = kModuleName;
  return find_beside_this_binary({name, "vramguard" / name, "../lib/vramguard" / name});
}

struct ModuleInterface {
  int interface_version;
  std::uint64_t layout_fingerprint;
};

}  // namespace

bool cuda_runtime_compiled() { return !cuda_runtime_module().empty(); }

std::unique_ptr<DeviceRuntime> make_cuda_runtime() {
  const auto module = cuda_runtime_module();
  if (module.empty()) return nullptr;
  // Opened once and never closed: the runtime and its blocks run its code until the process ends.
  void* library = ::dlopen(module.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (library == nullptr)
    throw JobError(std::string("cannot open the CUDA runtime ") + module.string() + ": " + ::dlerror(),
                   "it needs the libtorch it was built against (LD_LIBRARY_PATH) and the NVIDIA driver");
  // Its interface is checked before anything it made is used: a module built from other sources would
  // otherwise call through a different vtable.
  const auto interface = reinterpret_cast<ModuleInterface (*)()>(::dlsym(library, "vramguard_cuda_runtime_interface"));
  const auto factory = reinterpret_cast<DeviceRuntime* (*)(int)>(::dlsym(library, "vramguard_create_cuda_runtime"));
  if (interface == nullptr || factory == nullptr)
    throw JobError(module.string() + " is not a vramguard CUDA runtime of this version (a stale or foreign file)",
                   "rebuild vramguard, or remove the file");
  const ModuleInterface found = interface();
  if (found.interface_version != kDeviceRuntimeInterfaceVersion || found.layout_fingerprint != device_runtime_layout_fingerprint())
    throw JobError(module.string() + " was built from other vramguard sources (interface " + std::to_string(found.interface_version) +
                       ", this host speaks " + std::to_string(kDeviceRuntimeInterfaceVersion) + ")",
                   "rebuild vramguard so that the host and its CUDA runtime come from one build");
  return std::unique_ptr<DeviceRuntime>(factory(static_cast<int>(log::level())));
}

}  // namespace vramguard
