#pragma once
// Whether a path a model folder names exists, as an input check: std::filesystem::exists throws a raw
// filesystem_error for a link loop or a folder it may not search; this names the path instead.
#include <filesystem>

namespace vramguard {

// True when `path` exists (links followed), false when it does not; InputError naming it when the
// system cannot tell (a symbolic-link loop, a folder without search permission).
bool path_exists(const std::filesystem::path& path);

}  // namespace vramguard
