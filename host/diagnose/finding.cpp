#include "diagnose/finding.hpp"

#include <algorithm>

namespace vramguard {

std::string_view severity_name(Severity severity) {
  switch (severity) {
    case Severity::ok: return "ok";
    case Severity::info: return "info";
    case Severity::warning: return "warning";
    case Severity::blocker: return "blocker";
  }
  return "info";
}

bool any_blocker(const std::vector<Finding>& findings) {
  return std::any_of(findings.begin(), findings.end(),
                     [](const Finding& f) { return f.severity == Severity::blocker; });
}

nlohmann::json finding_json(const Finding& f) {
  nlohmann::json out{{"severity", std::string(severity_name(f.severity))}, {"topic", f.topic}, {"summary", f.summary}};
  if (!f.device.empty()) out["device"] = f.device;
  if (!f.cause.empty()) out["cause"] = f.cause;
  if (!f.remedy.empty()) out["remedy"] = f.remedy;
  if (!f.data.empty()) out["data"] = f.data;
  return out;
}

}  // namespace vramguard
