#pragma once
// Weights stored in fp8 (F8_E4M3, F8_E5M2), as scaled-fp8 checkpoints hold them (ComfyUI's
// `<module>.scale_weight`: weight = fp8 value x scale, one scale or one per row): planned, loaded and
// streamed at one byte an element, and turned into the compute dtype only where a Linear uses them.
#include <ATen/core/Tensor.h>

#include <set>

#include "model/model_inspector.hpp"
#include "vramguard/option_values.hpp"

#include "vramguard/dtype.hpp"
#include "vramguard/runtime/export.hpp"

namespace vramguard::runtime {

inline bool is_fp8(DType dtype) { return dtype == DType::F8_E4M3 || dtype == DType::F8_E5M2; }

// The element type an fp8 tensor's bytes are viewed as: the native float8 type where libtorch has one
// (2.1 and later), bytes otherwise (decoded by table in dequantized()).
c10::ScalarType fp8_storage_type(DType dtype);

// `stored` (an fp8 tensor as fp8_storage_type viewed it) in `dtype`, times `scale` where defined (a
// scalar, or one value per row).
// (Exported for the tests, which check every byte's value.)
VRAMGUARD_RUNTIME_API at::Tensor dequantized(const at::Tensor& stored, DType stored_dtype, const at::Tensor& scale,
                                             c10::ScalarType dtype);

// The GPUs whose Linears with e4m3 weights run as fp8 matmuls, as --fp8-compute says: under auto, those
// with fp8 tensor cores where this build has the kernel (a CUDA build with nvcc: fp8_rows.cu) and the
// model has such weights; under on, every GPU, or UsageError naming what is missing (exit 2, before
// anything loads); under off, none.
std::set<int> fp8_matmul_gpus(Fp8Compute::Mode mode, const InspectedModel& model, bool simulated);

// Whether fp8_matmul_gpus covers every GPU here (and there is one): what a prediction before the load,
// not knowing where the plan will run each unit, may count on.
bool fp8_matmuls_on_every_gpu(Fp8Compute::Mode mode, const InspectedModel& model, bool simulated);

// The full names of the component's 2-D weights held in e4m3 (read so, or quantized as they load): the
// Linears an fp8 matmul multiplies where a GPU has them (ComputeTarget::fp8_matmul_weights).
std::set<std::string> e4m3_weights(const InspectedModel& model, const std::string& component);

}  // namespace vramguard::runtime
