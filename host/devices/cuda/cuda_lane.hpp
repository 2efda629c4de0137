#pragma once
// One GPU's streaming window (a StreamLane) and the compute stream's timing events (a ComputeClock),
// on CUDA streams and events.
#include <memory>

#include "devices/device_runtime.hpp"

namespace vramguard::cuda {

std::unique_ptr<StreamLane> open_lane(int gpu, int slots);
std::unique_ptr<ComputeClock> open_clock(int gpu);

}  // namespace vramguard::cuda
