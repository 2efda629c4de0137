#include "model/quantized_weights.hpp"

#include <algorithm>

#include "core/errors.hpp"
#include "model/scaled_fp8.hpp"
#include "core/text.hpp"
#include "vramguard/byte_size.hpp"
#include "model/model_inspector.hpp"

namespace vramguard {
namespace {

constexpr std::string_view kWeightSuffix = ".weight";

bool quantizable(const Unit& unit, const TensorInfo& tensor) {
  return tensor.shape.size() == 2 && text::ends_with(tensor.name, kWeightSuffix) && tensor.tied_to.empty() &&
         unit.slice_of.empty() && dtype_is_floating(tensor.dtype) && dtype_bits(tensor.dtype) >= 16;
}

std::string format_count(std::size_t count, const std::string& what) {
  return std::to_string(count) + " " + what + (count == 1 ? "" : "s");
}

}  // namespace

bool kept_in_its_dtype(const std::string& tensor, const std::vector<std::string>& keep) {
  const std::string dotted = "." + tensor + ".";
  return std::any_of(keep.begin(), keep.end(),
                     [&](const std::string& layer) { return dotted.find("." + layer + ".") != std::string::npos; });
}

void quantize_weights(InspectedModel& model, const std::map<std::string, Fp8Quantization>& components) {
  for (const auto& [name, settings] : components) {
    const auto c =
        static_cast<std::size_t>(std::find_if(model.graph.components.begin(), model.graph.components.end(),
                                              [&](const Component& component) { return component.name == name; }) -
                                 model.graph.components.begin());
    if (c == model.graph.components.size()) {
      std::string names;
      for (const auto& component : model.graph.components) names += (names.empty() ? "" : ", ") + component.name;
      throw InputError("--weight-dtype " + name + "=fp8", "names a component " + model.source.argument + " lacks",
                       "its components: " + names);
    }
    Component& component = model.graph.components[c];
    InspectedComponent& inspected = model.components[c];
    const std::uint64_t bytes_before = component.bytes();
    std::size_t quantized = 0, kept = 0;
    for (auto& unit : component.units) {
      std::vector<TensorInfo> scales;
      for (auto& tensor : unit.tensors) {
        if (!quantizable(unit, tensor)) continue;
        if (kept_in_its_dtype(tensor.name, settings.keep)) {
          ++kept;
          continue;
        }
        const std::string module = tensor.name.substr(0, tensor.name.size() - kWeightSuffix.size());
        TensorInfo scale;
        scale.name = fp8_scale_name(module);
        scale.dtype = DType::F32;
        if (settings.per_row) scale.shape = {tensor.shape[0]};
        scale.elements = settings.per_row ? static_cast<std::uint64_t>(tensor.shape[0]) : 1;
        scale.stored_bytes = 0;  // not in the checkpoint: made as the weight loads
        scale.bytes = scale.elements * dtype_bits(placed_dtype(DType::F32, model.graph.target_dtype)) / 8;
        inspected.quantized[tensor.name] = {tensor.dtype, scale.name, tensor.shape[0], settings.per_row};
        inspected.quantized_scales[scale.name] = tensor.name;
        unit.bytes -= tensor.bytes;
        tensor.dtype = DType::F8_E4M3;  // stored_bytes stays the checkpoint's: where the source is read
        if (multiplies_tokens(unit, tensor))
          unit.fp8_flops_per_token += 2.0 * static_cast<double>(tensor.elements) * inspected.token_share(tensor.name);
        tensor.bytes = tensor.elements;
        unit.bytes += tensor.bytes + scale.bytes;
        scales.push_back(std::move(scale));
        ++quantized;
      }
      for (auto& scale : scales) unit.tensors.push_back(std::move(scale));
    }
    const std::string given = "--weight-dtype " + name + "=fp8";
    if (quantized == 0 && kept > 0)
      throw InputError(
          given, "leaves no weight of " + name + " to quantize: --fp8-keep keeps all " + format_count(kept, "weight"),
          "keep fewer layers");
    if (quantized == 0)
      throw InputError(given, name + " has no 2-D floating weight (bf16, fp16, fp32) to quantize",
                       "quantize a component with Linear layers (the transformer)");
    std::string kept_layers;
    for (const auto& layer : settings.keep) kept_layers += (kept_layers.empty() ? "" : ",") + layer;
    model.notes.push_back(
        name + ": " + format_count(quantized, "weight") + " quantized to fp8 (e4m3) as they load, " +
        (settings.per_row ? "a scale per row" : "a scale per weight") + ": " + format_bytes(component.bytes()) +
        " to hold and stream where " + format_bytes(bytes_before) + " would be" +
        (kept ? "; " + format_count(kept, "weight") + " kept in their dtype (" + kept_layers + ")" : std::string()));
  }
}

}  // namespace vramguard
