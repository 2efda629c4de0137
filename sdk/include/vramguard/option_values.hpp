#pragma once
// The typed values of the load options (vramguard/load_options.def), each with the one parser that turns
// a user's text into it. The CLI, config files, VRAMGUARD_* variables, the runtime API and Python all
// parse through these, so every front end takes the same spellings and says the same about a bad one.
#include <concepts>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "vramguard/device_id.hpp"
#include "vramguard/dtype.hpp"

namespace vramguard {

// A text an option cannot take: why, and what to write instead. The front end that read it adds where
// it came from (--max-memory, the config's key and line, Python's keyword).
class InvalidOptionValue : public std::invalid_argument {
 public:
  InvalidOptionValue(const std::string& reason, std::string hint = {});
  const std::string& hint() const noexcept { return hint_; }

 private:
  std::string hint_;
};

// A number of bytes: 4096, "12GB" (10⁹), "11.5GiB" (2³⁰); see parse_byte_size.
struct ByteSize {
  std::uint64_t bytes = 0;
  ByteSize() = default;
  template <std::integral Integer>
  ByteSize(Integer count) : bytes(checked(count)) {}
  ByteSize(std::string_view text);  // InvalidOptionValue for anything parse_byte_size refuses
  ByteSize(const char* text) : ByteSize(std::string_view(text)) {}
  ByteSize(const std::string& text) : ByteSize(std::string_view(text)) {}
  bool operator==(const ByteSize&) const = default;

 private:
  template <std::integral Integer>
  static std::uint64_t checked(Integer count) {
    if constexpr (std::is_signed_v<Integer>)
      if (count < 0) throw InvalidOptionValue("a size cannot be negative", "give a number of bytes, 0 or more");
    return static_cast<std::uint64_t>(count);
  }
};

// A size for each named device, accelerate's max_memory: "0=12GB,cuda:1=20GiB,cpu=64GiB". Keys are GPU
// indices, cuda:N or cpu; never disk (offloaded weights are read from the checkpoint in place).
struct DeviceSizes {
  std::map<DeviceId, std::uint64_t> bytes;
  DeviceSizes() = default;
  DeviceSizes(std::map<DeviceId, std::uint64_t> sizes) : bytes(std::move(sizes)) {}
  DeviceSizes(std::string_view text);
  DeviceSizes(const char* text) : DeviceSizes(std::string_view(text)) {}
  DeviceSizes(const std::string& text) : DeviceSizes(std::string_view(text)) {}
  bool operator==(const DeviceSizes&) const = default;
};

// One size for every GPU, or sizes per device: --reserve 4GB, or --reserve 0=4GB,cpu=8GB.
struct SizeForDevices {
  std::optional<std::uint64_t> every_gpu_bytes;
  std::map<DeviceId, std::uint64_t> per_device_bytes;
  SizeForDevices() = default;
  SizeForDevices(ByteSize every_gpu) : every_gpu_bytes(every_gpu.bytes) {}
  SizeForDevices(std::string_view text);
  SizeForDevices(const char* text) : SizeForDevices(std::string_view(text)) {}
  SizeForDevices(const std::string& text) : SizeForDevices(std::string_view(text)) {}
  bool operator==(const SizeForDevices&) const = default;
};

// The dtype floating weights load as (--dtype): bf16, fp16, fp32 or fp64, in any of their spellings.
struct LoadDType {
  DType dtype = DType::BF16;
  LoadDType(DType type);  // InvalidOptionValue for a dtype a load does not convert to
  LoadDType(std::string_view text);
  LoadDType(const char* text) : LoadDType(std::string_view(text)) {}
  LoadDType(const std::string& text) : LoadDType(std::string_view(text)) {}
  bool operator==(const LoadDType&) const = default;
};

// A LoRA to apply and its strength (--lora FILE[:SCALE]): the text is the file, with ":SCALE" after it
// where the part after the last ':' is a number (the strength diffusers' set_adapters takes; 1 when
// left out).
struct LoraFile {
  std::string path;
  double scale = 1.0;
  LoraFile(std::string path_, double scale_) : path(std::move(path_)), scale(scale_) {}
  LoraFile(std::string_view text);  // InvalidOptionValue for an empty path or a scale that is not finite
  LoraFile(const char* text) : LoraFile(std::string_view(text)) {}
  LoraFile(const std::string& text) : LoraFile(std::string_view(text)) {}
  bool operator==(const LoraFile&) const = default;
};
// LoRAs in the order given; they add up.
using LoraFiles = std::vector<LoraFile>;

// A component named on the command line (--component NAME[=FILE]). With a file, the component's weights
// come from that one safetensors file instead of its folder's (a single-file download such as ComfyUI's
// fp8 transformer); its config, and every other component, still come from the model folder. NAME alone
// picks the one component `vramguard run` runs.
struct NamedComponent {
  std::string name;
  std::optional<std::string> weights_file;
  NamedComponent(std::string name_, std::optional<std::string> file) : name(std::move(name_)), weights_file(file) {}
  NamedComponent(std::string_view text);  // InvalidOptionValue for an empty name or file
  NamedComponent(const char* text) : NamedComponent(std::string_view(text)) {}
  NamedComponent(const std::string& text) : NamedComponent(std::string_view(text)) {}
  bool operator==(const NamedComponent&) const = default;
};
using NamedComponents = std::vector<NamedComponent>;

// A component whose 2-D weights are quantized as they load (--weight-dtype COMPONENT=fp8): e4m3 with a
// scale per tensor (or per row, --fp8-scales row), what ComfyUI's scaled fp8 files hold.
struct ComponentWeightDType {
  std::string component;
  DType dtype = DType::F8_E4M3;
  ComponentWeightDType(std::string_view text);  // InvalidOptionValue but for NAME=fp8 (fp8_e4m3, float8_e4m3fn)
  ComponentWeightDType(const char* text) : ComponentWeightDType(std::string_view(text)) {}
  ComponentWeightDType(const std::string& text) : ComponentWeightDType(std::string_view(text)) {}
  bool operator==(const ComponentWeightDType&) const = default;
};
using ComponentWeightDTypes = std::vector<ComponentWeightDType>;

// How many scales a weight quantized at load gets: one (scale = its amax / 448), or one per row.
struct Fp8Scales {
  bool per_row = false;
  Fp8Scales(std::string_view text);  // "tensor" or "row"
  Fp8Scales(const char* text) : Fp8Scales(std::string_view(text)) {}
  Fp8Scales(const std::string& text) : Fp8Scales(std::string_view(text)) {}
  bool operator==(const Fp8Scales&) const = default;
};

// Whether Linears with fp8 weights run as fp8 matmuls (--fp8-compute): auto where the GPU has fp8 tensor
// cores (sm_89+) and the build has the kernel, on (refused where that cannot be), off (dequantized to the
// compute dtype at use: the default, since fp8 inputs move the results).
struct Fp8Compute {
  enum class Mode : std::uint8_t { automatic, on, off } mode = Mode::automatic;
  Fp8Compute(std::string_view text);  // "auto", "on" or "off"
  Fp8Compute(const char* text) : Fp8Compute(std::string_view(text)) {}
  Fp8Compute(const std::string& text) : Fp8Compute(std::string_view(text)) {}
  bool operator==(const Fp8Compute&) const = default;
};

// A layer kept in its dtype when its component is quantized (--fp8-keep img_mod,txt_mlp): a weight is kept
// when one of its name's dotted parts, or a run of them, is this ("img_mlp" keeps
// transformer_blocks.3.img_mlp.net.2.weight; "net.2" keeps every MLP's down-projection).
struct ModuleName {
  std::string name;
  ModuleName(std::string_view text);  // InvalidOptionValue for an empty name or one with spaces or '='
  ModuleName(const char* text) : ModuleName(std::string_view(text)) {}
  ModuleName(const std::string& text) : ModuleName(std::string_view(text)) {}
  bool operator==(const ModuleName&) const = default;
};
using ModuleNames = std::vector<ModuleName>;

// A GPU a load may use (--gpus 1 or cuda:1), by its index among the machine's (CUDA's order, as
// --max-memory names them).
struct GpuIndex {
  int index = 0;
  GpuIndex(std::string_view text);  // InvalidOptionValue but for N or cuda:N
  GpuIndex(const char* text) : GpuIndex(std::string_view(text)) {}
  GpuIndex(const std::string& text) : GpuIndex(std::string_view(text)) {}
  explicit GpuIndex(int index_) : index(index_) {}
  bool operator==(const GpuIndex&) const = default;
};
using GpuIndices = std::vector<GpuIndex>;

// Strategy options by key (`prefetch` → "2"); NAME.KEY for one strategy's (`balanced.low_zero`).
using StrategySettings = std::map<std::string, std::string>;
// A repeatable option's values, in the order given.
using TextList = std::vector<std::string>;

// Each value back as text that its parser reads as the same value (exact bytes, canonical names): how
// the runtime API hands typed values to the one reader that also merges the config and environment.
std::string option_text(const ByteSize& size);
std::string option_text(const DeviceSizes& sizes);
std::string option_text(const SizeForDevices& sizes);
std::string option_text(const LoadDType& dtype);
std::string option_text(const LoraFile& lora);
std::string option_text(const NamedComponent& component);
std::string option_text(const GpuIndex& gpu);
std::string option_text(const ComponentWeightDType& weights);
std::string option_text(const Fp8Scales& scales);
std::string option_text(const Fp8Compute& compute);
std::string option_text(const ModuleName& module);
std::string option_text(const std::string& text);
std::string option_text(std::uint64_t count);
template <std::same_as<bool> Bool>  // not an overload on bool: a string literal would convert to it
std::string option_text(Bool on) {
  return on ? "true" : "false";
}

}  // namespace vramguard
