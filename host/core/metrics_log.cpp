#include "core/metrics_log.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <system_error>

namespace vramguard {
namespace {

std::string value_of(const Environment& environment, const char* name) {
  const auto it = environment.find(name);
  return it == environment.end() ? std::string{} : it->second;
}

// Keeps the newest lines that fill half the limit (under the file's lock, by the writer that went
// past it): a new file renamed over the log, so a reader sees one or the other, whole.
void trim(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  in.close();
  std::size_t first = lines.size(), kept_bytes = 0;
  while (first > 0 && kept_bytes + lines[first - 1].size() + 1 <= kMetricsLogMaxBytes / 2)
    kept_bytes += lines[--first].size() + 1;
  const std::filesystem::path fresh = path.string() + ".new";
  {
    std::ofstream out(fresh, std::ios::trunc);
    for (std::size_t i = first; i < lines.size(); ++i) out << lines[i] << "\n";
    if (!out.flush()) return;  // the log stays as it was, over its size for now
  }
  std::error_code ec;
  std::filesystem::rename(fresh, path, ec);
}

// Whether `fd` is still the file at `path`: a writer that waited for the lock while another trimmed
// holds the old file, renamed away, and would write into nothing.
bool still_the_log(int fd, const std::filesystem::path& path) {
  struct stat open_file {
  }, named{};
  return ::fstat(fd, &open_file) == 0 && ::stat(path.c_str(), &named) == 0 && open_file.st_dev == named.st_dev &&
         open_file.st_ino == named.st_ino;
}

}  // namespace

std::filesystem::path metrics_log_path(const Environment& environment) {
  std::filesystem::path folder;
  if (const std::string dir = value_of(environment, "VRAMGUARD_STATE_DIR"); !dir.empty()) folder = dir;
  else if (const std::string xdg = value_of(environment, "XDG_STATE_HOME"); !xdg.empty())
    folder = std::filesystem::path(xdg) / "vramguard";
  else if (const std::string home = value_of(environment, "HOME"); !home.empty())
    folder = std::filesystem::path(home) / ".local/state/vramguard";
  else return {};
  return folder / "metrics.jsonl";
}

std::string append_metrics_record(const Environment& environment, nlohmann::json record) {
  const std::filesystem::path path = metrics_log_path(environment);
  if (path.empty()) return "the metrics log has no place: set VRAMGUARD_STATE_DIR or HOME";
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  if (ec) return "could not make " + path.parent_path().string() + " for the metrics log: " + ec.message();
  record["time"] = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  const std::string line = record.dump() + "\n";
  int fd = -1;
  for (int attempt = 0; attempt < 100; ++attempt) {
    fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return "could not open the metrics log " + path.string();
    ::flock(fd, LOCK_EX);  // one writer at a time: lines stay whole, and trimming sees them all
    if (still_the_log(fd, path)) break;
    ::flock(fd, LOCK_UN);  // trimmed meanwhile: open the new one
    ::close(fd);
    fd = -1;
  }
  if (fd < 0) return "the metrics log " + path.string() + " kept changing under this writer";
  const bool written = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  const off_t size = ::lseek(fd, 0, SEEK_END);
  if (written && size > static_cast<off_t>(kMetricsLogMaxBytes)) trim(path);
  ::flock(fd, LOCK_UN);
  ::close(fd);
  return written ? std::string{} : "could not write to the metrics log " + path.string();
}

std::vector<nlohmann::json> read_metrics_log(const Environment& environment) {
  std::vector<nlohmann::json> records;
  const std::filesystem::path path = metrics_log_path(environment);
  if (path.empty()) return records;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    auto record = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    // A line that is not a JSON object comes back as null: the reader skips it and may count it.
    records.push_back(record.is_object() ? std::move(record) : nlohmann::json());
  }
  return records;
}

}  // namespace vramguard
