#include "vramguard/option_values.hpp"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "vramguard/byte_size.hpp"
#include "vramguard/suggest.hpp"

namespace vramguard {
namespace {

std::string_view trimmed(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::uint64_t size_of(std::string_view text) {
  try {
    return parse_byte_size(text);
  } catch (const InvalidByteSize& e) {
    throw InvalidOptionValue("is not a size: " + e.reason(), e.hint());
  }
}

// "0=12GB,cuda:1=20GiB,cpu=64GiB" → sizes by device; the entry at fault named in every refusal.
std::map<DeviceId, std::uint64_t> sizes_by_device(std::string_view text) {
  const std::string example = "e.g. 0=12GB,cpu=64GiB";
  if (trimmed(text).empty()) throw InvalidOptionValue("is empty", example);
  std::map<DeviceId, std::uint64_t> sizes;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t comma = std::min(text.find(',', start), text.size());
    const std::string_view entry = trimmed(text.substr(start, comma - start));
    start = comma + 1;
    if (entry.empty()) throw InvalidOptionValue("has an empty entry", example);
    const auto eq = entry.find('=');
    if (eq == std::string_view::npos)
      throw InvalidOptionValue("has an entry that is not DEVICE=SIZE: '" + std::string(entry) + "'", example);
    const std::string name(trimmed(entry.substr(0, eq)));
    const auto device = DeviceId::parse(name, true);
    if (!device)
      throw InvalidOptionValue("names an unknown device '" + name + "'",
                               "devices are GPU indices (0, 1...), cuda:N and cpu");
    if (device->kind == DeviceKind::disk)
      throw InvalidOptionValue(
          "cannot cap disk: weights offloaded to disk are read from the checkpoint in place and take no space",
          "cap cpu to push weights to disk, e.g. 0=12GB,cpu=8GB");
    if (sizes.count(*device)) throw InvalidOptionValue("names " + device->str() + " twice", example);
    try {
      sizes[*device] = parse_byte_size(entry.substr(eq + 1));
    } catch (const InvalidByteSize& e) {
      throw InvalidOptionValue("gives " + device->str() + " '" + e.text() + "', which is not a size: " + e.reason(),
                               e.hint());
    }
  }
  return sizes;
}

std::string text_of(const std::map<DeviceId, std::uint64_t>& sizes) {
  std::string text;
  for (const auto& [device, bytes] : sizes) {
    if (!text.empty()) text.push_back(',');
    text.append(device.kind == DeviceKind::cuda ? std::to_string(device.index) : device.str());
    text.push_back('=');
    text.append(std::to_string(bytes));
  }
  return text;
}

}  // namespace

InvalidOptionValue::InvalidOptionValue(const std::string& reason, std::string hint)
    : std::invalid_argument(reason), hint_(std::move(hint)) {}

ByteSize::ByteSize(std::string_view text) : bytes(size_of(text)) {}

DeviceSizes::DeviceSizes(std::string_view text) : bytes(sizes_by_device(text)) {}

SizeForDevices::SizeForDevices(std::string_view text) {
  if (text.find('=') != std::string_view::npos) per_device_bytes = sizes_by_device(text);
  else every_gpu_bytes = size_of(text);
}

LoadDType::LoadDType(DType type) : dtype(type) {
  if (!dtype_is_convertible(type))
    throw InvalidOptionValue("is not a dtype vramguard converts to",
                             "use bf16, fp16, fp32 or fp64; a checkpoint stored in fp8 loads in fp8 without a dtype");
}

LoadDType::LoadDType(std::string_view text) {
  const auto parsed = dtype_from_user_name(text);
  if (!parsed) {
    const std::string near =
        nearest_word(text, {"bf16", "fp16", "fp32", "fp64", "bfloat16", "float16", "half", "float32", "float64"});
    throw InvalidOptionValue("is not a dtype vramguard loads weights as" +
                                 (near.empty() ? std::string() : " (did you mean '" + near + "'?)"),
                             "use bf16, fp16, fp32 or fp64 (also bfloat16, float16, half, float32, float64)");
  }
  if (!dtype_is_convertible(*parsed))
    throw InvalidOptionValue("is not a dtype vramguard converts to",
                             "use bf16, fp16, fp32 or fp64; a checkpoint stored in fp8 loads in fp8 without a dtype");
  dtype = *parsed;
}

LoraFile::LoraFile(std::string_view text) {
  // The scale is what follows the last ':' when that reads as a number; a path may hold ':' itself.
  path = std::string(text);
  if (const auto colon = text.rfind(':'); colon != std::string_view::npos) {
    const std::string tail(text.substr(colon + 1));
    char* end = nullptr;
    const double value = tail.empty() ? 0 : std::strtod(tail.c_str(), &end);
    if (!tail.empty() && end == tail.c_str() + tail.size()) {
      if (!std::isfinite(value) || std::abs(value) > 1000)
        throw InvalidOptionValue("has a scale that is not a number from -1000 to 1000",
                                 "write FILE:SCALE, e.g. lightning.safetensors:1.0");
      path = std::string(text.substr(0, colon));
      scale = value;
    }
  }
  if (path.empty()) throw InvalidOptionValue("names no file", "write FILE[:SCALE], e.g. lightning.safetensors:0.8");
}

std::string option_text(const LoraFile& lora) {
  std::ostringstream out;
  out.precision(17);
  out << lora.path << ':' << lora.scale;
  return out.str();
}

std::string option_text(const ByteSize& size) { return std::to_string(size.bytes); }
std::string option_text(const DeviceSizes& sizes) { return text_of(sizes.bytes); }
std::string option_text(const SizeForDevices& sizes) {
  return sizes.every_gpu_bytes ? std::to_string(*sizes.every_gpu_bytes) : text_of(sizes.per_device_bytes);
}
std::string option_text(const LoadDType& dtype) {
  switch (dtype.dtype) {
    case DType::F64: return "fp64";
    case DType::F32: return "fp32";
    case DType::F16: return "fp16";
    default: return "bf16";
  }
}
std::string option_text(const std::string& text) { return text; }
std::string option_text(std::uint64_t count) { return std::to_string(count); }

}  // namespace vramguard
