#pragma once
// Element conversion on the way to the device (--dtype bf16 from an fp32 checkpoint): floating types
// convert with round-to-nearest-even; equal types copy. Sources may be misaligned.
#include <cstdint>
#include <cstring>

#include "vramguard/dtype.hpp"

namespace vramguard {

// bf16 is float32's top half: the conversion is a shift (inline: quantizing loops call it per element).
inline float bf16_to_float(std::uint16_t bits) {
  const std::uint32_t wide = static_cast<std::uint32_t>(bits) << 16;
  float value;
  std::memcpy(&value, &wide, 4);
  return value;
}

bool conversion_supported(DType from, DType to);
// Throws std::invalid_argument for an unsupported pair (checked before a load starts).
void convert_elements(const unsigned char* source, DType from, unsigned char* destination, DType to,
                      std::uint64_t elements);

// The e4m3fn byte nearest `value` (round to nearest even), as PyTorch's cast to float8_e4m3fn makes it
// within range; beyond ±448 it saturates to ±448, and NaN stays NaN (0x7F).
std::uint8_t fp8_e4m3_from_float(float value);

}  // namespace vramguard
