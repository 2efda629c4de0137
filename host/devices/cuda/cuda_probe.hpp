#pragma once
// What the probe measures or knows of a GPU beside what CUDA reports: its tensor rate, its memory's
// bandwidth and its link.
#include <string>

namespace vramguard::cuda {

// Dense bf16 tensor FLOP/s by product name (vendor specifications); unknown cards get the default.
double peak_flops(const std::string& name);

// The peak bandwidth of the device's own memory from its memory clock and bus width (double data
// rate); 0 where the driver reports neither.
double memory_bandwidth(int device);

// Pinned host→device bandwidth, best of a few 256 MiB copies; measured once per device per process.
double measure_host_to_device(int device);

}  // namespace vramguard::cuda
