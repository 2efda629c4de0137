#pragma once
// Ctrl-C and SIGTERM, for every command: while a StopSignals object lives, those signals set a flag
// that long stages poll (planning, loading, verifying, running) to stop cleanly, release what they
// hold and still write their report.
#include <atomic>

namespace vramguard {

class StopSignals {
 public:
  StopSignals();   // installs the handlers and clears the flag
  ~StopSignals();  // restores the previous handlers
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;
};

// The flag the handlers set; never reset while a command runs.
const std::atomic<bool>& stop_flag();
bool stop_requested();
// For tests and for code that stops on its own terms.
void request_stop();

}  // namespace vramguard
