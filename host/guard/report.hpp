#pragma once
// How a load is reported: a human summary, or JSON (--json, --report FILE).
#include <iosfwd>

#include <nlohmann/json.hpp>

#include "guard/guard_pipeline.hpp"

namespace vramguard {

nlohmann::json guard_report_json(const GuardReport& report);
// A prediction's figures: what plan --json, compare --json and the report share.
nlohmann::json prediction_json(const Prediction& prediction);
void print_guard_report(const GuardReport& report, std::ostream& out);

}  // namespace vramguard
