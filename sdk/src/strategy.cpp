#include "vramguard/strategy.hpp"

#include "vramguard/byte_size.hpp"

namespace vramguard {
namespace {

std::string describe_no_fit(const std::string& strategy, const std::string& reason,
                            const std::map<DeviceId, std::uint64_t>& minimum) {
  std::string message = "strategy '" + strategy + "' found no placement that fits: " + reason;
  if (!minimum.empty()) {
    message += " (it would need at least";
    bool first = true;
    for (const auto& [device, bytes] : minimum) {
      message += first ? " " : ", ";
      message += format_bytes(bytes) + " usable on " + device.str();
      first = false;
    }
    message += ")";
  }
  return message;
}

}  // namespace

NoFitError::NoFitError(std::string strategy, std::string reason,
                       std::map<DeviceId, std::uint64_t> minimum_bytes)
    : std::runtime_error(describe_no_fit(strategy, reason, minimum_bytes)),
      strategy_(std::move(strategy)),
      reason_(std::move(reason)),
      minimum_bytes_(std::move(minimum_bytes)) {}

}  // namespace vramguard
