#pragma once
#include <string>

#include "core/errors.hpp"

namespace vramguard {

// A checkpoint file or folder that is malformed or inconsistent. Names the file and, where there is
// one, the tensor.
class CheckpointError : public InputError {
 public:
  CheckpointError(const std::string& file, const std::string& problem, std::string tensor = {})
      : InputError(file, tensor.empty() ? problem : "tensor '" + tensor + "': " + problem,
                   "the checkpoint is damaged or not a safetensors file; re-download or re-export it"),
        tensor_(std::move(tensor)) {}
  const std::string& tensor() const noexcept { return tensor_; }

 private:
  std::string tensor_;
};

}  // namespace vramguard
