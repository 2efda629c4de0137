#include "run/model_runner.hpp"

#include <dlfcn.h>

#include <initializer_list>

#include "core/install_paths.hpp"
#include "logging/log.hpp"

namespace vramguard {
namespace {

constexpr const char* kLibraryName = "libvramguard_runtime.so";

struct LibraryInterface {
  int interface_version;
  std::uint64_t layout_fingerprint;
  std::uint64_t device_runtime_fingerprint;
};

}  // namespace

std::uint64_t model_runner_layout_fingerprint() {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  for (std::size_t figure : {sizeof(RunSettings), sizeof(StepRecord), sizeof(RunOutcome), sizeof(LoadedModel), sizeof(LoadedUnit),
                             sizeof(LoadedTensor), sizeof(LoadedWindow), sizeof(InspectedModel), sizeof(Placement)})
    for (int byte = 0; byte < 8; ++byte) {
      hash ^= (static_cast<std::uint64_t>(figure) >> (8 * byte)) & 0xFF;
      hash *= 0x100000001b3ULL;
    }
  return hash;
}

std::unique_ptr<ModelRunner> load_model_runner() {
  const std::filesystem::path name = kLibraryName;
  std::filesystem::path library_file;
  if (const char* explicit_path = std::getenv("VRAMGUARD_RUNTIME_LIBRARY"); explicit_path && *explicit_path) library_file = explicit_path;
  else library_file = find_beside_this_binary({name, "../lib" / name});
  if (library_file.empty())
    throw JobError("the runtime library (" + std::string(kLibraryName) + ") is not installed beside vramguard",
                   "build and install vramguard with its runtime (README), or set VRAMGUARD_RUNTIME_LIBRARY");
  // RTLD_LOCAL: libtorch's libraries never interpose on the host's symbols. Never closed: what it makes
  // runs its code until the process ends.
  void* library = ::dlopen(library_file.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (library == nullptr)
    throw JobError("cannot open the runtime library " + library_file.string() + ": " + ::dlerror(),
                   "it needs the libtorch it was built against (LD_LIBRARY_PATH)");
  const auto interface = reinterpret_cast<LibraryInterface (*)()>(::dlsym(library, "vramguard_model_runner_interface"));
  const auto factory = reinterpret_cast<ModelRunner* (*)(int)>(::dlsym(library, "vramguard_create_model_runner"));
  if (interface == nullptr || factory == nullptr)
    throw JobError(library_file.string() + " is not a vramguard runtime library of this version", "rebuild vramguard");
  const LibraryInterface found = interface();
  if (found.interface_version != kModelRunnerInterfaceVersion || found.layout_fingerprint != model_runner_layout_fingerprint() ||
      found.device_runtime_fingerprint != device_runtime_layout_fingerprint())
    throw JobError(library_file.string() + " was built from other vramguard sources", "rebuild vramguard so that the host and its runtime come from one build");
  return std::unique_ptr<ModelRunner>(factory(static_cast<int>(log::level())));
}

}  // namespace vramguard
