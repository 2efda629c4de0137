#include "model/scaled_fp8.hpp"

#include <cmath>
#include <vector>

#include "core/errors.hpp"
#include "core/tensor_read.hpp"
#include "core/text.hpp"

namespace vramguard {
namespace {

constexpr std::string_view kScaleSuffix = ".scale_weight";

}  // namespace

std::string fp8_scale_name(std::string_view module) { return std::string(module) + std::string(kScaleSuffix); }
bool is_fp8_scale(std::string_view tensor) { return text::ends_with(tensor, kScaleSuffix); }

void check_fp8_scales(const InspectedModel& model) {
  for (std::size_t c = 0; c < model.graph.components.size(); ++c) {
    const InspectedComponent& inspected = model.components[c];
    for (const auto& unit : model.graph.components[c].units)
      for (const auto& tensor : unit.tensors) {
        if (!is_fp8_scale(tensor.name) || !tensor.tied_to.empty()) continue;
        const auto location = inspected.locations.find(tensor.name);
        if (location == inspected.locations.end()) continue;
        const std::string file = inspected.source.weight_files.at(location->second.file).string();
        const std::string weight = tensor.name.substr(0, tensor.name.size() - kScaleSuffix.size()) + ".weight";
        const TensorInfo* scaled = nullptr;
        for (const auto& other : unit.tensors)
          if (other.name == weight) scaled = &other;
        if (!scaled || (scaled->dtype != DType::F8_E4M3 && scaled->dtype != DType::F8_E5M2))
          throw InputError(file, "holds " + tensor.name + " but no " + weight + " stored in fp8 beside it to scale",
                           "the checkpoint is damaged or was converted wrongly; export it again");
        if (!dtype_is_floating(tensor.dtype) || tensor.elements > (1u << 24))
          throw InputError(file, tensor.name + " is not a floating scale of one value or one per row",
                           "the checkpoint is damaged or was converted wrongly; export it again");
        const std::vector<float> values = read_floats(file, location->second.offset, tensor.elements, tensor.dtype);
        for (const float v : values)
          if (!(std::isfinite(v) && v > 0))
            throw InputError(file,
                             tensor.name + " holds " + (std::isnan(v) ? std::string("NaN") : std::to_string(v)) +
                                 ": a weight's scale must be a positive finite number",
                             "the checkpoint is damaged or was converted wrongly; export it again");
      }
  }
}

}  // namespace vramguard
