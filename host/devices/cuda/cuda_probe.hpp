#pragma once
// What the probe measures or knows of a GPU beside what CUDA reports: its tensor rate and its link.
#include <string>

namespace vramguard::cuda {

// Dense bf16 tensor FLOP/s by product name (vendor specifications); unknown cards get the default.
double peak_flops(const std::string& name);

// Pinned host→device bandwidth, best of a few 256 MiB copies; measured once per device per process.
double measure_host_to_device(int device);

}  // namespace vramguard::cuda
