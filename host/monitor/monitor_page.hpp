#pragma once
// The monitor's web page: self-contained (no outside scripts, styles or fonts); it polls /api/state
// and draws each GPU's used memory over time against the alert threshold, its processes, and the
// alerts. The document carries what a test checks: body[data-updates] counts the states drawn,
// section[data-gpu] is one GPU, its canvas[data-points] the samples drawn, #alerts li[data-state].
#include <string_view>

namespace vramguard {

std::string_view monitor_page_html();

}  // namespace vramguard
