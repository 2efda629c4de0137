#include "core/dtype_conversion.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

namespace vramguard {
namespace {

std::uint16_t float_to_bf16(float f) {
  std::uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if (std::isnan(f)) return static_cast<std::uint16_t>((bits >> 16) | 0x40);  // keep it a NaN
  bits += 0x7FFF + ((bits >> 16) & 1);
  return static_cast<std::uint16_t>(bits >> 16);
}

float f16_to_float(std::uint16_t h) {
  const std::uint32_t sign = (h & 0x8000u) << 16;
  std::uint32_t exponent = (h >> 10) & 0x1F;
  std::uint32_t mantissa = h & 0x3FF;
  std::uint32_t bits;
  if (exponent == 0) {
    if (mantissa == 0) {
      bits = sign;
    } else {  // subnormal: normalize
      exponent = 127 - 15 + 1;
      while ((mantissa & 0x400) == 0) mantissa <<= 1, --exponent;
      bits = sign | (exponent << 23) | ((mantissa & 0x3FF) << 13);
    }
  } else if (exponent == 31) {
    bits = sign | 0x7F800000u | (mantissa << 13);
  } else {
    bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

std::uint16_t float_to_f16(float f) {
  std::uint32_t bits;
  std::memcpy(&bits, &f, 4);
  const std::uint16_t sign = static_cast<std::uint16_t>((bits >> 16) & 0x8000);
  const std::uint32_t abs = bits & 0x7FFFFFFF;
  if (abs >= 0x7F800000) return static_cast<std::uint16_t>(sign | 0x7C00 | (abs > 0x7F800000 ? 0x200 : 0));
  if (abs >= 0x477FF000) return static_cast<std::uint16_t>(sign | 0x7C00);  // overflows to infinity
  if (abs < 0x38800000) {                                                   // subnormal or zero in half precision
    const float magnitude = std::fabs(f) * 16777216.0f;                     // 2^24: units of the smallest subnormal
    return static_cast<std::uint16_t>(sign | static_cast<std::uint16_t>(std::nearbyint(magnitude)));
  }
  std::uint32_t rounded = abs + 0xFFF + ((abs >> 13) & 1);  // round to nearest even at bit 13
  return static_cast<std::uint16_t>(sign | (((rounded >> 13) - ((127 - 15) << 10)) & 0x7FFF));
}

float load_float(const unsigned char* p, DType dtype) {
  switch (dtype) {
    case DType::F32: {
      float f;
      std::memcpy(&f, p, 4);
      return f;
    }
    case DType::F64: {
      double d;
      std::memcpy(&d, p, 8);
      return static_cast<float>(d);
    }
    case DType::BF16: {
      std::uint16_t v;
      std::memcpy(&v, p, 2);
      return bf16_to_float(v);
    }
    case DType::F16: {
      std::uint16_t v;
      std::memcpy(&v, p, 2);
      return f16_to_float(v);
    }
    default: throw std::invalid_argument("no float conversion from " + std::string(dtype_name(dtype)));
  }
}

void store_float(unsigned char* p, DType dtype, float f) {
  switch (dtype) {
    case DType::F32: std::memcpy(p, &f, 4); return;
    case DType::F64: {
      const double d = f;
      std::memcpy(p, &d, 8);
      return;
    }
    case DType::BF16: {
      const std::uint16_t v = float_to_bf16(f);
      std::memcpy(p, &v, 2);
      return;
    }
    case DType::F16: {
      const std::uint16_t v = float_to_f16(f);
      std::memcpy(p, &v, 2);
      return;
    }
    default: throw std::invalid_argument("no float conversion to " + std::string(dtype_name(dtype)));
  }
}

bool convertible_float(DType d) { return d == DType::F32 || d == DType::F64 || d == DType::BF16 || d == DType::F16; }

}  // namespace

std::uint8_t fp8_e4m3_from_float(float value) {
  std::uint32_t bits;
  std::memcpy(&bits, &value, 4);
  const std::uint8_t sign = static_cast<std::uint8_t>((bits >> 24) & 0x80);
  const std::uint32_t abs = bits & 0x7FFFFFFF;
  if (abs > 0x7F800000) return 0x7F;                                     // NaN
  if (abs >= 0x43E80000) return static_cast<std::uint8_t>(sign | 0x7E);  // ≥ 464: past 448's rounding range
  if (abs < 0x3C800000) {                                                // below 2^-6: subnormal, in units of 2^-9
    const float magnitude = std::fabs(value) * 512.0f;                   // exact: a power of two
    return static_cast<std::uint8_t>(sign | static_cast<std::uint8_t>(std::nearbyint(magnitude)));
  }
  // Normal: keep 3 of float's 23 mantissa bits, rounding to nearest even; a carry moves into the exponent.
  const std::uint32_t rounded = (abs + 0x7FFFF + ((abs >> 20) & 1)) >> 20;
  const std::uint32_t code = rounded - (120u << 3);  // float's exponent bias 127 against e4m3's 7
  return static_cast<std::uint8_t>(sign | std::min<std::uint32_t>(code, 0x7E));
}

bool conversion_supported(DType from, DType to) {
  return from == to || (convertible_float(from) && convertible_float(to));
}

void convert_elements(const unsigned char* source, DType from, unsigned char* destination, DType to,
                      std::uint64_t elements) {
  if (from == to) {
    std::memcpy(destination, source, elements * dtype_bits(from) / 8);
    return;
  }
  if (!conversion_supported(from, to))
    throw std::invalid_argument("cannot convert " + std::string(dtype_name(from)) + " to " +
                                std::string(dtype_name(to)));
  const unsigned in = dtype_bits(from) / 8, out = dtype_bits(to) / 8;
  if (from == DType::F32 && to == DType::BF16) {  // the common case, kept tight
    for (std::uint64_t i = 0; i < elements; ++i) {
      float f;
      std::memcpy(&f, source + i * 4, 4);
      const std::uint16_t v = float_to_bf16(f);
      std::memcpy(destination + i * 2, &v, 2);
    }
    return;
  }
  for (std::uint64_t i = 0; i < elements; ++i)
    store_float(destination + i * out, to, load_float(source + i * in, from));
}

}  // namespace vramguard
