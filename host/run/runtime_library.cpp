#include "run/runtime_library.hpp"

#include <dlfcn.h>

#include <initializer_list>

#include "core/install_paths.hpp"
#include "logging/log.hpp"
#include "qwen_image_edit/edit_outcome.hpp"

namespace vramguard {
namespace {

constexpr const char* kLibraryName = "libvramguard_runtime.so";

}  // namespace

std::uint64_t runtime_library_layout_fingerprint() {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  for (std::size_t figure :
       {sizeof(RunSettings), sizeof(StepRecord), sizeof(RunOutcome), sizeof(RunHooks), sizeof(RunResult),
        sizeof(RuntimeLibraryInterface), sizeof(LoadRequest), sizeof(GuardReport), sizeof(InspectedModel),
        sizeof(Placement), sizeof(pipelines::PipelineDemands), sizeof(pipelines::PipelineStep), sizeof(PipelineRun),
        sizeof(pipelines::EditOutcome)})  // what the CLI reads of an edit the library ran
    for (int byte = 0; byte < 8; ++byte) {
      hash ^= (static_cast<std::uint64_t>(figure) >> (8 * byte)) & 0xFF;
      hash *= 0x100000001b3ULL;
    }
  return hash;
}

namespace {

const RuntimeLibraryInterface& open_runtime_library() {
  const std::filesystem::path name = kLibraryName;
  std::filesystem::path library_file;
  if (const char* explicit_path = std::getenv("VRAMGUARD_RUNTIME_LIBRARY"); explicit_path && *explicit_path)
    library_file = explicit_path;
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
  const auto exported =
      reinterpret_cast<const RuntimeLibraryInterface* (*)()>(::dlsym(library, "vramguard_runtime_library"));
  if (exported == nullptr)
    throw JobError(library_file.string() + " is not a vramguard runtime library of this version", "rebuild vramguard");
  const RuntimeLibraryInterface* found = exported();
  if (found == nullptr || found->interface_version != kRuntimeLibraryInterfaceVersion ||
      found->layout_fingerprint != runtime_library_layout_fingerprint() ||
      found->device_runtime_fingerprint != device_runtime_layout_fingerprint())
    throw JobError(library_file.string() + " was built from other vramguard sources",
                   "rebuild vramguard so that the host and its runtime come from one build");
  return *found;
}

}  // namespace

const RuntimeLibraryInterface& runtime_library() {
  static const RuntimeLibraryInterface& library = open_runtime_library();
  return library;
}

std::string profile_file_for(const std::optional<std::string>& file) {
  if (!file) return {};
  if (runtime_library().create_cuda_runtime == nullptr)
    throw UsageError("--profile: this build of vramguard has no profiler (it was built without CUDA)",
                     "profile with a CUDA build: PyTorch's profiler there records the CPU's ops and the GPU's kernels");
  return *file;
}

std::unique_ptr<DeviceRuntime> make_cuda_runtime() {
  const int level = static_cast<int>(log::level());
  if (vramguard_create_cuda_runtime != nullptr)
    return std::unique_ptr<DeviceRuntime>(vramguard_create_cuda_runtime(level));
#if VRAMGUARD_HAS_CUDA
  if (const auto create = runtime_library().create_cuda_runtime) return std::unique_ptr<DeviceRuntime>(create(level));
#endif
  return nullptr;  // a build without CUDA: the caller says so
}

}  // namespace vramguard
