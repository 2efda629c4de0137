#pragma once
// Writing a result file (a report, a device map, a config, tensors) so that it can neither fail silently
// nor destroy what it must not: every write and the close are checked, the content goes to a new file
// beside the target that then replaces it (a reader never sees half a file), a symbolic link at the
// target is refused rather than followed, a file the model was read from is refused, a file that was
// not written is never removed (only the new file beside it), and replacing an existing file is said.
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vramguard {

// From now on, `input` (a model's weights, index or config) may not be the target of an output: the
// same file by device and inode, whatever path names it. Files that do not exist are ignored.
void protect_from_outputs(const std::filesystem::path& input);

// Every regular file in `folder` and its subfolders (a pipeline's weights, configs, tokenizer), as
// protect_from_outputs protects one; links are followed to their files (a Hugging Face snapshot).
void protect_folder_from_outputs(const std::filesystem::path& folder);

// Refuses, before any work, an output path write_output_file would refuse, or could not write: UsageError
// naming the file when the path is empty, when it is a symbolic link, a folder, a FIFO or a socket, one
// of the protected inputs, or a new file in a folder that is missing or not writable.
void check_output_path(const std::filesystem::path& file, const std::string& what);

// check_output_path for each of a command's outputs (path, what it is), and refuses two that would be
// the same file (however each is spelled): the second would replace the first.
void check_output_paths(const std::vector<std::pair<std::filesystem::path, std::string>>& outputs);

// Throws JobError naming the file, what it is ("the report") and the system's reason; UsageError for a
// path check_output_path refuses.
void write_output_file(const std::filesystem::path& file, std::string_view content, const std::string& what);

}  // namespace vramguard
