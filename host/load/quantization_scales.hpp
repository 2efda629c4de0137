#pragma once
// The scales of the weights a load quantizes (--weight-dtype COMPONENT=fp8), made before any byte is
// uploaded: each weight read once from its checkpoint for its largest magnitude (by tensor or by row).
// They stay with the loaded model, for as long as streamed weights are read again at every step: each
// quantized weight's source points at its scales, and each scale tensor is read from an in-memory file
// (memfd) as any tensor is read from its checkpoint.
#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor_read.hpp"

namespace vramguard {

struct InspectedModel;

class QuantizationScales {
 public:
  // Where a tensor's bytes are in its component's checkpoint (descriptor, path, offset, elements), read
  // as `stored` (its dtype there).
  using SourceOf = std::function<UploadSource(std::size_t component, const std::string& tensor, DType stored)>;
  // Reads every quantized weight of `model` through `source_of`, spread over the machine's cores.
  // InputError naming a checkpoint that cannot be read; a model without quantized weights reads nothing.
  QuantizationScales(const InspectedModel& model, const SourceOf& source_of);
  ~QuantizationScales();
  QuantizationScales(const QuantizationScales&) = delete;
  QuantizationScales& operator=(const QuantizationScales&) = delete;

  // For a scale tensor: where its values are read, as `to` (its placed dtype). nullopt for any other.
  std::optional<UploadSource> scale_source(std::size_t component, const std::string& tensor, DType to) const;
  // For a quantized weight: `source` (where the checkpoint stores it) made to quantize as it is read;
  // any other tensor's is left as it is.
  void quantize(std::size_t component, const std::string& tensor, UploadSource& source) const;

 private:
  struct Weight {
    DType stored = DType::BF16;
    std::vector<float> scales;
    std::uint64_t row_elements = 0;  // 0: one scale
    std::uint64_t file_offset = 0;   // of the scale tensor in the memfd
  };
  std::map<std::pair<std::size_t, std::string>, Weight> scales_;              // by component and weight
  std::map<std::pair<std::size_t, std::string>, std::string> scale_tensors_;  // scale name → weight name
  int memfd_ = -1;
  std::string memfd_name_ = "vramguard fp8 scales";
};

}  // namespace vramguard
