#pragma once
// The guard's verify stage: every tensor is where the plan put it, with its dtype and shape; with
// data verification, its bytes on the device equal the file's (after dtype conversion).
#include <optional>

#include "devices/device_runtime.hpp"
#include "load/loaded_model.hpp"
#include "model/model_inspector.hpp"

namespace vramguard {

class VerificationError : public JobError {
 public:
  explicit VerificationError(const std::string& problem)
      : JobError("verification failed: " + problem, "the loaded model does not match its plan or its files; this is a bug, please report it") {}
};

// Returns how many tensors were checked.
std::uint64_t verify_loaded_model(DeviceRuntime& runtime, const InspectedModel& model, const Placement& placement,
                                  const LoadedModel& loaded, std::optional<DType> target_dtype, bool check_data);

}  // namespace vramguard
