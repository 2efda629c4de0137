#pragma once
// One thing doctor found: how much it matters, what it is, why, and what to do about it.
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace vramguard {

// blocker: a load cannot succeed as things are; warning: it will, worse than it could; info, ok: facts.
enum class Severity { ok, info, warning, blocker };
std::string_view severity_name(Severity severity);

struct Finding {
  Severity severity = Severity::info;
  std::string topic;    // "gpu", "processes", "allocator", "host memory", "memlock", "model", "strategies"
  std::string device;   // "cuda:0" where it is about one device, else empty
  std::string summary;  // one line: what is so
  std::string cause;    // why it matters (empty for plain facts)
  std::string remedy;   // what to do (empty when nothing needs doing)
  nlohmann::json data = nlohmann::json::object();  // the figures behind it, for --json
};

bool any_blocker(const std::vector<Finding>& findings);
nlohmann::json finding_json(const Finding& finding);

}  // namespace vramguard
