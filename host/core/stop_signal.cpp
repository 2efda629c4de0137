#include "core/stop_signal.hpp"

#include <csignal>

namespace vramguard {
namespace {

std::atomic<bool> g_stop{false};
struct sigaction g_old_int {
}, g_old_term{};

extern "C" void on_stop_signal(int) { g_stop.store(true); }

}  // namespace

StopSignals::StopSignals() {
  g_stop = false;
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, &g_old_int);
  sigaction(SIGTERM, &action, &g_old_term);
}

StopSignals::~StopSignals() {
  sigaction(SIGINT, &g_old_int, nullptr);
  sigaction(SIGTERM, &g_old_term, nullptr);
}

const std::atomic<bool>& stop_flag() { return g_stop; }
bool stop_requested() { return g_stop.load(); }
void request_stop() { g_stop.store(true); }

}  // namespace vramguard
