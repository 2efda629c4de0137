#include "core/path_exists.hpp"

#include <string>
#include <system_error>

#include "core/errors.hpp"

namespace vramguard {

bool path_exists(const std::filesystem::path& path) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (ec && ec != std::errc::no_such_file_or_directory && ec != std::errc::not_a_directory)
    throw InputError(path.string(), "cannot be read: " + ec.message(),
                     "check the folder: a symbolic link that loops, or a folder you may not search");
  return std::filesystem::exists(status);
}

}  // namespace vramguard
