#pragma once
// Quantizing at load (--weight-dtype COMPONENT=fp8): the component's 2-D weights become e4m3 weights with
// a `<module>.scale_weight` beside each, as a ComfyUI scaled-fp8 file holds them, so that planning,
// loading, streaming and the families' Linears treat them as such a file's. Here the graph is rewritten
// (each weight one byte an element, its scale a tensor of the unit); the values are made as the weights
// are read (core/tensor_read: read_fp8_scales, UploadSource::quantize_scales).
#include <map>
#include <string>
#include <vector>

namespace vramguard {

struct InspectedModel;

struct Fp8Quantization {
  bool per_row = false;           // --fp8-scales row: one scale a row, else one a weight
  std::vector<std::string> keep;  // --fp8-keep: layers left in their dtype
};

// Rewrites the named components' 2-D floating weights (not kept, not tied, not row slices, not already
// fp8) as quantized, and records each in InspectedComponent::quantized. InputError for a component the
// model lacks, or one with no weight to quantize.
void quantize_weights(InspectedModel& model, const std::map<std::string, Fp8Quantization>& components);

// Whether `keep` names a layer of `tensor`: one of its dotted parts, or a run of them.
bool kept_in_its_dtype(const std::string& tensor, const std::vector<std::string>& keep);

}  // namespace vramguard
