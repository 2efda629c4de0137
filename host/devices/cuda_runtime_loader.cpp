#include <dlfcn.h>

#include <filesystem>
#include <system_error>

#include "devices/device_runtime.hpp"
#include "logging/log.hpp"

#ifndef VRAMGUARD_LIB_DIR_FROM_BINDIR
#error "VRAMGUARD_LIB_DIR_FROM_BINDIR must be set by the build"
#endif

namespace vramguard {
namespace {

std::filesystem::path cuda_runtime_module() {
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return {};
  return (exe.parent_path() / VRAMGUARD_LIB_DIR_FROM_BINDIR / "libvramguard_cuda_runtime.so").lexically_normal();
}

}  // namespace

bool cuda_runtime_compiled() {
  std::error_code ec;
  return std::filesystem::is_regular_file(cuda_runtime_module(), ec);
}

std::unique_ptr<DeviceRuntime> make_cuda_runtime() {
  if (!cuda_runtime_compiled()) return nullptr;
  const auto module = cuda_runtime_module();
  // Opened once and never closed: the runtime and its blocks run its code until the process ends.
  void* library = ::dlopen(module.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (library == nullptr)
    throw JobError(std::string("cannot open the CUDA runtime ") + module.string() + ": " + ::dlerror(),
                   "it needs the libtorch it was built against (LD_LIBRARY_PATH) and the NVIDIA driver");
  using Factory = DeviceRuntime* (*)(int);
  const auto factory = reinterpret_cast<Factory>(::dlsym(library, "vramguard_create_cuda_runtime"));
  if (factory == nullptr) throw JobError(module.string() + " has no vramguard_create_cuda_runtime: a stale or foreign file");
  return std::unique_ptr<DeviceRuntime>(factory(static_cast<int>(log::level())));
}

}  // namespace vramguard
