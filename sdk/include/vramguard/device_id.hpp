#pragma once
// Which device a placement names: a GPU by its CUDA ordinal, host RAM, or the page cache over the
// checkpoint files ("disk"). A typed value, so that no two places parse "cuda:0" their own way.
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace vramguard {

enum class DeviceKind : std::uint8_t { cuda, cpu, disk };
std::string_view device_kind_name(DeviceKind kind);

struct DeviceId {
  DeviceKind kind = DeviceKind::cpu;
  int index = 0;  // the CUDA ordinal for a GPU; 0 for cpu and disk

  static constexpr DeviceId gpu(int ordinal) { return {DeviceKind::cuda, ordinal}; }
  static constexpr DeviceId host() { return {DeviceKind::cpu, 0}; }
  static constexpr DeviceId page_cache() { return {DeviceKind::disk, 0}; }

  bool is_gpu() const { return kind == DeviceKind::cuda; }
  std::string str() const;  // "cuda:0", "cpu", "disk"
  // "cuda:N", "cpu" or "disk" (a bare GPU index too, where `bare_index_is_gpu`); nullopt otherwise.
  static std::optional<DeviceId> parse(std::string_view text, bool bare_index_is_gpu = false);

  auto operator<=>(const DeviceId&) const = default;
};

}  // namespace vramguard
