#include "vramguard/option_values.hpp"

#include <cctype>
#include <charconv>
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

NamedComponent::NamedComponent(std::string_view text) {
  const auto eq = text.find('=');
  name = std::string(text.substr(0, eq));
  if (eq != std::string_view::npos) weights_file = std::string(text.substr(eq + 1));
  if (name.empty() || name.find_first_of(",/") != std::string::npos)
    throw InvalidOptionValue("names no component", "write NAME=FILE, e.g. transformer=qwen_image_edit_fp8.safetensors");
  if (weights_file && weights_file->empty())
    throw InvalidOptionValue("names no file after '='",
                             "write NAME=FILE, e.g. transformer=qwen_image_edit_fp8.safetensors");
}

std::string option_text(const NamedComponent& component) {
  return component.weights_file ? component.name + "=" + *component.weights_file : component.name;
}

ComponentWeightDType::ComponentWeightDType(std::string_view text) {
  const auto eq = text.find('=');
  const std::string hint = "write COMPONENT=fp8, e.g. transformer=fp8";
  if (eq == std::string_view::npos || eq == 0) throw InvalidOptionValue("is not COMPONENT=fp8", hint);
  component = std::string(text.substr(0, eq));
  std::string dtype_name(text.substr(eq + 1));
  for (auto& c : dtype_name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (dtype_name != "fp8" && dtype_name != "fp8_e4m3" && dtype_name != "fp8_e4m3fn" && dtype_name != "float8_e4m3fn")
    throw InvalidOptionValue("quantizes to '" + std::string(text.substr(eq + 1)) + "', which vramguard does not",
                             "weights quantize at load to fp8 (e4m3, scaled): " + hint);
}

std::string option_text(const ComponentWeightDType& weights) { return weights.component + "=fp8"; }

Fp8Scales::Fp8Scales(std::string_view text) {
  if (text == "row" || text == "per-row") per_row = true;
  else if (text != "tensor" && text != "per-tensor")
    throw InvalidOptionValue("is not tensor or row", "--fp8-scales tensor (one scale a weight) or row (one a row)");
}

std::string option_text(const Fp8Scales& scales) { return scales.per_row ? "row" : "tensor"; }

Fp8Compute::Fp8Compute(std::string_view text) {
  if (text == "auto") mode = Mode::automatic;
  else if (text == "on") mode = Mode::on;
  else if (text == "off") mode = Mode::off;
  else
    throw InvalidOptionValue("is not auto, on or off",
                             "--fp8-compute auto (fp8 matmuls where the GPU has them), on (or refuse) or off");
}

std::string option_text(const Fp8Compute& compute) {
  return compute.mode == Fp8Compute::Mode::on ? "on" : compute.mode == Fp8Compute::Mode::off ? "off" : "auto";
}

ModuleName::ModuleName(std::string_view text) : name(text) {
  if (name.empty() || name.find_first_of(" \t=,") != std::string::npos || name.front() == '.' || name.back() == '.')
    throw InvalidOptionValue("is not a layer name", "name a module or part of one, e.g. img_mlp or attn.to_out");
}

std::string option_text(const ModuleName& module) { return module.name; }

GpuIndex::GpuIndex(std::string_view text) {
  std::string_view digits = text;
  if (digits.substr(0, 5) == "cuda:") digits.remove_prefix(5);
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), index);
  if (digits.empty() || error != std::errc() || end != digits.data() + digits.size() || index < 0 || index > 1023)
    throw InvalidOptionValue("is not a GPU's index", "name GPUs by index as nvidia-smi lists them, e.g. 0,1 or cuda:1");
}

std::string option_text(const GpuIndex& gpu) { return std::to_string(gpu.index); }

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
