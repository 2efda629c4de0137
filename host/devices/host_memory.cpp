#include "devices/host_memory.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

namespace vramguard {
namespace {

std::optional<std::uint64_t> read_number(const std::string& path) {
  std::ifstream in(path);
  std::string text;
  if (!(in >> text) || text == "max") return std::nullopt;
  try {
    return std::stoull(text);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace

HostMemoryReading read_host_memory() {
  HostMemoryReading reading;
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  std::uint64_t value = 0;
  std::string unit;
  while (meminfo >> key >> value) {
    std::getline(meminfo, unit);
    if (key == "MemTotal:") reading.total_bytes = value * 1024;
    if (key == "MemAvailable:") reading.available_bytes = value * 1024;
  }
  // cgroup v2, then v1: a container's limit binds before the machine's RAM does.
  std::optional<std::uint64_t> limit = read_number("/sys/fs/cgroup/memory.max");
  std::optional<std::uint64_t> usage = read_number("/sys/fs/cgroup/memory.current");
  if (!limit) {
    limit = read_number("/sys/fs/cgroup/memory/memory.limit_in_bytes");
    usage = read_number("/sys/fs/cgroup/memory/memory.usage_in_bytes");
  }
  if (limit && *limit < reading.total_bytes) {
    reading.cgroup_limit_bytes = *limit;
    const std::uint64_t left = usage && *usage < *limit ? *limit - *usage : 0;
    reading.available_bytes = std::min(reading.available_bytes, left);
  }
  return reading;
}

DeviceInfo cpu_device(const HostMemoryReading& reading) {
  DeviceInfo cpu;
  cpu.id = DeviceId::host();
  cpu.total_bytes = reading.cgroup_limit_bytes.value_or(reading.total_bytes);
  cpu.free_bytes = reading.available_bytes;
  cpu.description = reading.cgroup_limit_bytes ? "host RAM (cgroup limit)" : "host RAM";
  return cpu;
}

DeviceInfo disk_device(const std::filesystem::path& model_location) {
  DeviceInfo disk;
  disk.id = DeviceId::page_cache();
  disk.description = "page cache over the checkpoint files";
  struct statvfs st {};
  if (::statvfs(model_location.c_str(), &st) == 0) {
    disk.total_bytes = static_cast<std::uint64_t>(st.f_blocks) * st.f_frsize;
    disk.free_bytes = static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
  }
  disk.usable_bytes = std::numeric_limits<std::uint64_t>::max();
  return disk;
}

std::optional<std::uint64_t> memlock_limit_bytes() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_MEMLOCK, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return std::nullopt;
  return static_cast<std::uint64_t>(limit.rlim_cur);
}

double page_cache_fraction(const std::filesystem::path& file) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  struct stat st {};
  double fraction = 0;
  if (::fstat(fd, &st) == 0 && st.st_size > 0) {
    const auto size = static_cast<std::size_t>(st.st_size);
    void* mapped = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
    if (mapped != MAP_FAILED) {
      const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
      std::vector<unsigned char> resident((size + page - 1) / page);
      if (::mincore(mapped, size, resident.data()) == 0) {
        std::size_t in_cache = 0;
        for (unsigned char r : resident) in_cache += r & 1u;
        fraction = static_cast<double>(in_cache) / static_cast<double>(resident.size());
      }
      ::munmap(mapped, size);
    }
  }
  ::close(fd);
  return fraction;
}

}  // namespace vramguard
