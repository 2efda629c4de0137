#include "core/metrics_log.hpp"

#include <fcntl.h>
#include <sys/file.h>
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

// Keeps the newer half of the file's lines (under the file's lock, by the process that went past).
void trim(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  in.close();
  const std::filesystem::path fresh = path.string() + ".new";
  {
    std::ofstream out(fresh, std::ios::trunc);
    for (std::size_t i = lines.size() / 2; i < lines.size(); ++i) out << lines[i] << "\n";
  }
  std::error_code ec;
  std::filesystem::rename(fresh, path, ec);
}

}  // namespace

std::filesystem::path metrics_log_path(const Environment& environment) {
  std::filesystem::path folder;
  if (const std::string dir = value_of(environment, "VRAMGUARD_STATE_DIR"); !dir.empty()) folder = dir;
  else if (const std::string xdg = value_of(environment, "XDG_STATE_HOME"); !xdg.empty()) folder = std::filesystem::path(xdg) / "vramguard";
  else if (const std::string home = value_of(environment, "HOME"); !home.empty()) folder = std::filesystem::path(home) / ".local/state/vramguard";
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
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return "could not open the metrics log " + path.string();
  ::flock(fd, LOCK_EX);  // one writer at a time: lines stay whole, and trimming sees them all
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
