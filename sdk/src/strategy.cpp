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

std::uint64_t Workload::sequence_tokens(const std::string& component, std::uint64_t default_tokens) const {
  if (const auto it = components.find(component); it != components.end() && it->second.tokens > 0)
    return it->second.tokens;
  return tokens > 0 ? tokens : default_tokens;
}

std::uint64_t Workload::passes(const std::string& component) const {
  const auto it = components.find(component);
  return it == components.end() ? 1 : it->second.passes;
}

NoFitError::NoFitError(std::string strategy, std::string reason, std::map<DeviceId, std::uint64_t> minimum_bytes)
    : std::runtime_error(describe_no_fit(strategy, reason, minimum_bytes)),
      strategy_(std::move(strategy)),
      reason_(std::move(reason)),
      minimum_bytes_(std::move(minimum_bytes)) {}

}  // namespace vramguard
