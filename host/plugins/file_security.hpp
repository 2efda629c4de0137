#pragma once
// Loading a library runs its code with our privileges. A plugin that another user could have
// written (or replaced, through a writable directory) is refused unless the user says otherwise.
#include <filesystem>
#include <optional>
#include <string>

namespace vramguard {

// Why `file` (or the directory holding it) is writable by users other than us and root;
// nullopt when it is not.
std::optional<std::string> insecure_plugin_reason(const std::filesystem::path& file);

}  // namespace vramguard
