#pragma once
// The monitor's web page: self-contained (no outside scripts, styles or fonts); it polls /api/state
// and draws each GPU's used memory over time against the alert threshold, its processes, and the
// alerts; under `vramguard serve`, the edits' queue as well (the state's "queue"). The document carries
// what a test checks: body[data-updates] counts the states drawn, section[data-gpu] is one GPU, its
// canvas[data-points] the samples drawn, #alerts li[data-state], #queue[data-waiting][data-running].
#include <string_view>

namespace vramguard {

std::string_view monitor_page_html();

}  // namespace vramguard
