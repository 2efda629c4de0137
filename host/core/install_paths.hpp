#pragma once
// Where vramguard's own files are, found from the binary that holds this code: the CLI in bin/, the
// runtime library in lib/, or the Python extension in its package folder. The install tree and the
// build tree share one layout, so the same relative paths work in both.
#include <filesystem>
#include <initializer_list>

namespace vramguard {

// The folder of the executable or shared library this code was linked into.
std::filesystem::path this_binary_directory();
// The first of `relatives` (taken from this_binary_directory()) that exists; empty when none does.
std::filesystem::path find_beside_this_binary(std::initializer_list<std::filesystem::path> relatives);

}  // namespace vramguard
