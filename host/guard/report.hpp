#pragma once
// How a load is reported: a human summary, or JSON (--json, --report FILE).
#include <functional>
#include <iosfwd>

#include <nlohmann/json.hpp>

#include "guard/guard_pipeline.hpp"

namespace vramguard {

nlohmann::json guard_report_json(const GuardReport& report);
// A prediction's figures: what plan --json, compare --json and the report share.
nlohmann::json prediction_json(const Prediction& prediction);
// `what_ran` (a run's figures) is printed in its place: after the load, before the unload.
void print_guard_report(const GuardReport& report, std::ostream& out,
                        const std::function<void(std::ostream&)>& what_ran = {});

}  // namespace vramguard
