#pragma once
// Writing a result file (a report, a device map, a config) so that a full disk or a bad path is an
// error, not a silently empty file: every write and the close are checked.
#include <filesystem>
#include <string>
#include <string_view>

namespace vramguard {

// Throws JobError naming the file, what it is ("the report") and the system's reason.
void write_output_file(const std::filesystem::path& file, std::string_view content, const std::string& what);

}  // namespace vramguard
