// A plugin whose plan() takes a long time (as a careless search might): Ctrl-C must still stop the
// host at once, with its report written.
#include <chrono>
#include <thread>

#include <vramguard/plugin_api.hpp>

namespace {
class Slow final : public vramguard::PlacementStrategy {
 public:
  vramguard::Placement plan(const vramguard::PlanRequest&) const override {
    std::this_thread::sleep_for(std::chrono::seconds(30));
    throw vramguard::NoFitError("test-slow", "it thought for a long time and found nothing", {});
  }
};
}  // namespace

VRAMGUARD_REGISTER_STRATEGY(Slow, "test-slow", "0.1.0", "a plan() that takes 30 seconds")
