#include "core/output_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>
#include <mutex>
#include <set>
#include <utility>

#include "core/errors.hpp"
#include "logging/log.hpp"

namespace vramguard {
namespace {

std::mutex protected_mutex;
std::set<std::pair<std::uint64_t, std::uint64_t>>& protected_files() {  // (device, inode)
  static std::set<std::pair<std::uint64_t, std::uint64_t>> files;
  return files;
}

}  // namespace

void protect_from_outputs(const std::filesystem::path& input) {
  struct stat st {};
  if (::stat(input.c_str(), &st) != 0) return;
  const std::lock_guard lock(protected_mutex);
  protected_files().insert({static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino)});
}

void protect_folder_from_outputs(const std::filesystem::path& folder) {
  namespace fs = std::filesystem;
  std::error_code ec;
  // Bounded: a pipeline holds tens of files; a folder of millions is not a model's.
  constexpr int kMaxEntries = 100'000;
  int seen = 0;
  for (fs::recursive_directory_iterator it(folder, fs::directory_options::skip_permission_denied, ec), end;
       !ec && it != end && seen < kMaxEntries; it.increment(ec), ++seen) {
    if (it.depth() > 4) {
      it.disable_recursion_pending();
      continue;
    }
    std::error_code regular;
    if (it->is_regular_file(regular)) protect_from_outputs(it->path());
  }
}

namespace {

// A new file's folder must exist and take files: found now, not after the work.
void check_folder_of_new_file(const std::filesystem::path& file, const std::string& what) {
  const std::filesystem::path folder = file.has_parent_path() ? file.parent_path() : std::filesystem::path(".");
  struct stat st {};
  if (::stat(folder.c_str(), &st) != 0) {
    const int error = errno;  // before the message's allocations
    throw UsageError("will not write " + what + " to " + file.string() + ": its folder " + folder.string() + " " +
                         (error == ENOENT ? std::string("does not exist") : std::strerror(error)),
                     "create the folder first, or give a path in an existing one");
  }
  if (!S_ISDIR(st.st_mode))
    throw UsageError("will not write " + what + " to " + file.string() + ": " + folder.string() + " is not a folder",
                     "give a path in a folder");
  if (::access(folder.c_str(), W_OK) != 0) {
    const int error = errno;
    throw UsageError("will not write " + what + " to " + file.string() + ": its folder " + folder.string() +
                         " is not writable (" + std::strerror(error) + ")",
                     "give a path in a folder you can write to");
  }
}

}  // namespace

void check_output_path(const std::filesystem::path& file, const std::string& what) {
  if (file.empty())
    throw UsageError("will not write " + what + ": its path is empty", "give the path of the file to write");
  struct stat st {};
  if (::lstat(file.c_str(), &st) != 0) {  // a new file
    check_folder_of_new_file(file, what);
    return;
  }
  if (S_ISLNK(st.st_mode))
    throw UsageError(
        "will not write " + what + " to " + file.string() + ": it is a symbolic link, and outputs never follow links",
        "give the path of a regular file, or remove the link");
  {
    const std::lock_guard lock(protected_mutex);
    if (protected_files().count({static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino)}))
      throw UsageError("will not write " + what + " to " + file.string() +
                           ": it is one of the files this command reads (the model's, or an input)",
                       "write it somewhere else; what vramguard reads is never overwritten");
  }
  if (S_ISDIR(st.st_mode))
    throw UsageError("will not write " + what + " to " + file.string() + ": it is a folder", "give a file's path");
  // Opening a FIFO waits for a reader, possibly for ever; a socket cannot be opened at all.
  if (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) || S_ISBLK(st.st_mode))
    throw UsageError("will not write " + what + " to " + file.string() +
                         ": it is not a regular file (a FIFO, a socket or a block device)",
                     "give the path of a regular file");
  if (S_ISREG(st.st_mode)) check_folder_of_new_file(file, what);  // replaced by a new file beside it
}

void check_output_paths(const std::vector<std::pair<std::filesystem::path, std::string>>& outputs) {
  std::vector<std::pair<std::filesystem::path, std::string>> seen;
  for (const auto& [file, what] : outputs) {
    check_output_path(file, what);
    std::error_code ec;
    const std::filesystem::path canonical = std::filesystem::weakly_canonical(file, ec);
    for (const auto& [other, other_what] : seen) {
      std::error_code same_ec;
      if ((!ec && canonical == other) || std::filesystem::equivalent(file, other, same_ec))
        throw UsageError("will not write " + what + " to " + file.string() + ": " + other_what + " goes there too",
                         "give each output its own file");
    }
    seen.emplace_back(ec ? file : canonical, what);
  }
}

namespace {

[[noreturn]] void fail(const std::filesystem::path& file, const std::string& what, const char* step) {
  throw JobError("cannot write " + what + " to " + file.string() + ": " + step + " failed: " + std::strerror(errno),
                 "check the path, its permissions and the free space on its file system");
}

// Every byte, then flushed: some file systems report a full disk only then. False with errno set.
bool write_all(int fd, std::string_view content, const char** step) {
  std::size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) errno = ENOSPC;
      *step = "write";
      return false;
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 && errno != EINVAL && errno != EROFS) {
    *step = "flush";
    return false;
  }
  return true;
}

// The process's umask, read without changing it (umask() would, for every thread, for a moment).
mode_t current_umask() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("Umask:", 0) == 0) return static_cast<mode_t>(std::stoul(line.substr(6), nullptr, 8));
  return 022;
}

}  // namespace

void write_output_file(const std::filesystem::path& file, std::string_view content, const std::string& what) {
  check_output_path(file, what);
  struct stat st {};
  const bool exists = ::lstat(file.c_str(), &st) == 0;
  if (exists && !S_ISREG(st.st_mode)) {
    // A device or a pipe (/dev/stdout, a FIFO): written into, never replaced.
    const int fd = ::open(file.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) fail(file, what, "open");
    const char* step = nullptr;
    if (!write_all(fd, content, &step)) {
      const int saved = errno;
      ::close(fd);
      errno = saved;
      fail(file, what, step);
    }
    if (::close(fd) != 0) fail(file, what, "close");
    return;
  }
  const bool replacing = exists;
  auto fail_step = [&](const char* step) { fail(file, what, step); };
  // A new file beside the target, renamed over it once whole: the target is never half written, and
  // a link that appears at its path meanwhile is replaced, not followed.
  const std::filesystem::path directory = file.has_parent_path() ? file.parent_path() : std::filesystem::path(".");
  std::string name(1, '.');
  name.append(file.filename().string()).append(".vramguard-XXXXXX");
  std::string temporary = (directory / name).string();
  const int fd = ::mkostemp(temporary.data(), O_CLOEXEC);
  if (fd < 0) fail_step("creating a file beside it");
  auto abandon = [&](const char* step) {
    const int saved = errno;
    ::close(fd);
    ::unlink(temporary.c_str());
    errno = saved;
    fail_step(step);
  };
  if (::fchmod(fd, 0666 & ~current_umask()) != 0) abandon("setting its permissions");
  const char* step = nullptr;
  if (!write_all(fd, content, &step)) abandon(step);
  if (::close(fd) != 0) {
    const int saved = errno;
    ::unlink(temporary.c_str());
    errno = saved;
    fail_step("close");
  }
  if (::rename(temporary.c_str(), file.c_str()) != 0) {
    const int saved = errno;
    ::unlink(temporary.c_str());
    errno = saved;
    fail_step("rename");
  }
  if (replacing) log::info("replaced the existing ", file.string(), " with ", what);
}

}  // namespace vramguard
