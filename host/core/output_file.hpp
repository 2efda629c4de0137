#pragma once
// Writing a result file (a report, a device map, a config, tensors) so that it can neither fail silently
// nor destroy what it must not: every write and the close are checked, the content goes to a new file
// beside the target that then replaces it (a reader never sees half a file), a symbolic link at the
// target is refused rather than followed, a file the model was read from is refused, and replacing an
// existing file is said.
#include <filesystem>
#include <string>
#include <string_view>

namespace vramguard {

// From now on, `input` (a model's weights, index or config) may not be the target of an output: the
// same file by device and inode, whatever path names it. Files that do not exist are ignored.
void protect_from_outputs(const std::filesystem::path& input);

// Refuses, before any work, an output path write_output_file would refuse: UsageError naming the
// option's file when it is a symbolic link or one of the protected inputs.
void check_output_path(const std::filesystem::path& file, const std::string& what);

// Throws JobError naming the file, what it is ("the report") and the system's reason; UsageError for a
// path check_output_path refuses.
void write_output_file(const std::filesystem::path& file, std::string_view content, const std::string& what);

}  // namespace vramguard
