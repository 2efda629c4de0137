#include "core/install_paths.hpp"

#include <dlfcn.h>

#include <system_error>

namespace vramguard {

std::filesystem::path this_binary_directory() {
  Dl_info info{};
  if (::dladdr(reinterpret_cast<void*>(&this_binary_directory), &info) == 0 || info.dli_fname == nullptr) return {};
  std::error_code ec;
  // dli_fname is argv[0]-like for an executable started through PATH; /proc/self/exe is exact there.
  std::filesystem::path file = info.dli_fname;
  if (file.filename() == file || file.is_relative()) {
    const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (!ec && exe.filename() == file.filename()) file = exe;
  }
  const auto resolved = std::filesystem::weakly_canonical(file, ec);
  return (ec ? file : resolved).parent_path();
}

std::filesystem::path find_beside_this_binary(std::initializer_list<std::filesystem::path> relatives) {
  const auto here = this_binary_directory();
  if (here.empty()) return {};
  std::error_code ec;
  for (const auto& relative : relatives) {
    const auto candidate = (here / relative).lexically_normal();
    if (std::filesystem::exists(candidate, ec)) return candidate;
  }
  return {};
}

}  // namespace vramguard
