#include "vramguard/dtype.hpp"

#include <array>
#include <cctype>

namespace vramguard {
namespace {

struct DTypeRow {
  DType dtype;
  std::string_view name;
  unsigned bits;
  bool floating;
};

// The safetensors format's dtype list; widths in bits because F4 and F6 pack below a byte.
constexpr std::array<DTypeRow, 20> kDTypes{{
    {DType::F64, "F64", 64, true},        {DType::F32, "F32", 32, true},        {DType::F16, "F16", 16, true},
    {DType::BF16, "BF16", 16, true},      {DType::F8_E4M3, "F8_E4M3", 8, true}, {DType::F8_E5M2, "F8_E5M2", 8, true},
    {DType::F8_E8M0, "F8_E8M0", 8, true}, {DType::F6_E2M3, "F6_E2M3", 6, true}, {DType::F6_E3M2, "F6_E3M2", 6, true},
    {DType::F4, "F4", 4, true},           {DType::C64, "C64", 64, true},        {DType::I64, "I64", 64, false},
    {DType::I32, "I32", 32, false},       {DType::I16, "I16", 16, false},       {DType::I8, "I8", 8, false},
    {DType::U64, "U64", 64, false},       {DType::U32, "U32", 32, false},       {DType::U16, "U16", 16, false},
    {DType::U8, "U8", 8, false},          {DType::BOOL, "BOOL", 8, false},
}};

const DTypeRow& row(DType dtype) {
  for (const auto& r : kDTypes)
    if (r.dtype == dtype) return r;
  return kDTypes[1];  // unreachable: every enumerator has a row
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

std::optional<DType> dtype_from_name(std::string_view name) {
  for (const auto& r : kDTypes)
    if (r.name == name) return r.dtype;
  return std::nullopt;
}

std::optional<DType> dtype_from_user_name(std::string_view name) {
  const std::string n = lower(name);
  if (n == "bf16" || n == "bfloat16") return DType::BF16;
  if (n == "f16" || n == "fp16" || n == "float16" || n == "half") return DType::F16;
  if (n == "f32" || n == "fp32" || n == "float32" || n == "float") return DType::F32;
  if (n == "f64" || n == "fp64" || n == "float64" || n == "double") return DType::F64;
  if (n == "fp8" || n == "f8_e4m3" || n == "float8_e4m3fn") return DType::F8_E4M3;
  if (n == "f8_e5m2" || n == "float8_e5m2") return DType::F8_E5M2;
  return std::nullopt;
}

std::string_view dtype_name(DType dtype) { return row(dtype).name; }
unsigned dtype_bits(DType dtype) { return row(dtype).bits; }
bool dtype_is_floating(DType dtype) { return row(dtype).floating && dtype != DType::C64; }

bool dtype_is_convertible(DType dtype) {
  return dtype == DType::F64 || dtype == DType::F32 || dtype == DType::F16 || dtype == DType::BF16;
}

DType placed_dtype(DType stored, std::optional<DType> target) {
  return target && dtype_is_convertible(stored) && dtype_is_convertible(*target) ? *target : stored;
}

std::string known_dtype_names() {
  std::string out;
  for (const auto& r : kDTypes) {
    if (!out.empty()) out += ' ';
    out += r.name;
  }
  return out;
}

}  // namespace vramguard
