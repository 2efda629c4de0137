#pragma once
// Weights stored in fp8 (F8_E4M3, F8_E5M2), as scaled-fp8 checkpoints hold them (ComfyUI's
// `<module>.scale_weight`: weight = fp8 value x scale, one scale or one per row): planned, loaded and
// streamed at one byte an element, and turned into the compute dtype only where a Linear uses them.
#include <ATen/core/Tensor.h>

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

}  // namespace vramguard::runtime
