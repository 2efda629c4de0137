#include "core/output_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/errors.hpp"

namespace vramguard {

void write_output_file(const std::filesystem::path& file, std::string_view content, const std::string& what) {
  auto fail = [&](const char* step) {
    throw JobError("cannot write " + what + " to " + file.string() + ": " + step + " failed: " + std::strerror(errno),
                   "check the path, its permissions and the free space on its file system");
  };
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail("open");
  std::size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int saved = errno;
      ::close(fd);
      errno = n == 0 ? ENOSPC : saved;
      fail("write");
    }
    done += static_cast<std::size_t>(n);
  }
  // Some file systems report a full disk only when the data is flushed.
  if (::fsync(fd) != 0 && errno != EINVAL && errno != EROFS) {
    const int saved = errno;
    ::close(fd);
    errno = saved;
    fail("flush");
  }
  if (::close(fd) != 0) fail("close");
}

}  // namespace vramguard
