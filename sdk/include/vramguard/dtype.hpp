#pragma once
// Element types as safetensors names them, with their exact width in bits.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace vramguard {

enum class DType : std::uint8_t {
  F64,
  F32,
  F16,
  BF16,
  F8_E4M3,
  F8_E5M2,
  F8_E8M0,
  F6_E2M3,
  F6_E3M2,
  F4,
  C64,
  I64,
  I32,
  I16,
  I8,
  U64,
  U32,
  U16,
  U8,
  BOOL,
};

std::optional<DType> dtype_from_name(std::string_view safetensors_name);
// Also accepts the user-facing spellings (bf16, float16, fp32...).
std::optional<DType> dtype_from_user_name(std::string_view name);
std::string_view dtype_name(DType dtype);  // the safetensors spelling: "BF16"
unsigned dtype_bits(DType dtype);
bool dtype_is_floating(DType dtype);
// The dtypes a load can convert to and from (--dtype): F64, F32, F16 and BF16.
bool dtype_is_convertible(DType dtype);
// The one rule for the dtype a tensor has once placed: a convertible floating tensor takes the target
// dtype where one is set; integer and packed low-precision tensors (F8, F6, F4) keep their own.
DType placed_dtype(DType stored, std::optional<DType> target);
// All names the format lists, for messages: "F64 F32 ...".
std::string known_dtype_names();

}  // namespace vramguard
