#pragma once
// The guard's verify stage: every unit is where the plan put it, checked on what was really allocated
// (each block's device and size, each tensor's byte range inside its block, windows large enough for
// what streams through them), each tensor with its dtype and shape; with data verification, each
// tensor's bytes read back from its device equal the file's (after dtype conversion).
#include <cstdint>
#include <atomic>

#include "devices/device_runtime.hpp"
#include "load/loaded_model.hpp"
#include "model/model_inspector.hpp"

namespace vramguard {

class VerificationError : public JobError {
 public:
  explicit VerificationError(const std::string& problem)
      : JobError("verification failed: " + problem,
                 "the loaded model does not match its plan or its files; this is a bug, please report it") {}
};

// Returns how many tensors were checked (one stored in row slices counts once). Throws Interrupted when
// `cancel` is set.
std::uint64_t verify_loaded_model(DeviceRuntime& runtime, const InspectedModel& model, const Placement& placement,
                                  const LoadedModel& loaded, bool check_data,
                                  const std::atomic<bool>* cancel = nullptr);

}  // namespace vramguard
