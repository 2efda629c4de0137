#pragma once
// The host side of the budget: available RAM (honouring a cgroup memory limit) and the disk, which
// for us is the page cache over the checkpoint files themselves.
#include <cstdint>
#include <filesystem>
#include <optional>

#include "vramguard/device_budget.hpp"

namespace vramguard {

struct HostMemoryReading {
  std::uint64_t total_bytes = 0;
  std::uint64_t available_bytes = 0;
  std::optional<std::uint64_t> cgroup_limit_bytes;
};

// Reads /proc/meminfo (MemTotal, MemAvailable) and the cgroup v2/v1 limit and usage of this process.
HostMemoryReading read_host_memory();

DeviceInfo cpu_device(const HostMemoryReading& reading);

// This process's memlock limit (RLIMIT_MEMLOCK), nullopt when unlimited: what page-locking may hold.
std::optional<std::uint64_t> memlock_limit_bytes();
// The fraction (0-1) of a file's pages in the page cache now (mincore over a read-only mapping); a
// file that cannot be read counts 0.
double page_cache_fraction(const std::filesystem::path& file);
// Disk offload streams from the mapped checkpoint: nothing is written, so its capacity is unbounded;
// total and free report the file system holding the model.
DeviceInfo disk_device(const std::filesystem::path& model_location);

}  // namespace vramguard
