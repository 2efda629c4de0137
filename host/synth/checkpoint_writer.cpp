#include "synth/checkpoint_writer.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "core/errors.hpp"
#include "core/output_file.hpp"

namespace fs = std::filesystem;

namespace vramguard {
namespace {

using ojson = nlohmann::ordered_json;

class File {
 public:
  explicit File(const fs::path& path) : path_(path) {
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) throw JobError("cannot create " + path.string() + ": " + std::strerror(errno));
  }
  ~File() {
    if (fd_ >= 0) ::close(fd_);
  }
  void write_at(const void* data, std::size_t size, std::uint64_t offset) {
    const char* p = static_cast<const char*>(data);
    while (size > 0) {
      const ssize_t n = ::pwrite(fd_, p, size, static_cast<off_t>(offset));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw JobError("cannot write " + path_.string() + ": " + std::strerror(errno));
      p += n, size -= static_cast<std::size_t>(n), offset += static_cast<std::uint64_t>(n);
    }
  }
  void set_size(std::uint64_t size) {
    if (::ftruncate(fd_, static_cast<off_t>(size)) != 0)
      throw JobError("cannot size " + path_.string() + ": " + std::strerror(errno));
  }

 private:
  fs::path path_;
  int fd_ = -1;
};

// splitmix64: a tiny, good, seedable generator; each tensor gets its own stream, so the bytes of a
// tensor do not depend on how the checkpoint is sharded.
struct SplitMix {
  std::uint64_t state;
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  float uniform() { return static_cast<float>(next() >> 40) / 16777216.0f * 2.0f - 1.0f; }  // [-1, 1)
};

std::uint16_t to_bf16(float f) {
  std::uint32_t bits;
  std::memcpy(&bits, &f, 4);
  bits += 0x7FFF + ((bits >> 16) & 1);  // round to nearest even
  return static_cast<std::uint16_t>(bits >> 16);
}

std::uint16_t to_f16(float f) {
  // Values here are small and normal: |f| < 1, so subnormals only below 6e-5 (flushed to zero).
  std::uint32_t bits;
  std::memcpy(&bits, &f, 4);
  const std::uint16_t sign = static_cast<std::uint16_t>((bits >> 16) & 0x8000);
  const int exponent = static_cast<int>((bits >> 23) & 0xFF) - 127 + 15;
  if (exponent <= 0) return sign;
  const std::uint16_t mantissa = static_cast<std::uint16_t>((bits >> 13) & 0x3FF);
  return static_cast<std::uint16_t>(sign | (exponent << 10) | mantissa);
}

void write_random(File& file, std::uint64_t offset, std::uint64_t elements, DType dtype, std::uint64_t seed) {
  SplitMix rng{seed};
  std::vector<char> buffer;
  const std::uint64_t chunk = 1 << 20;
  for (std::uint64_t done = 0; done < elements; done += chunk) {
    const std::uint64_t n = std::min(chunk, elements - done);
    const unsigned width = dtype_bits(dtype) / 8;
    buffer.resize(n * width);
    for (std::uint64_t i = 0; i < n; ++i) {
      const float value = rng.uniform() * 0.02f;
      char* at = buffer.data() + i * width;
      if (dtype == DType::BF16) {
        const auto v = to_bf16(value);
        std::memcpy(at, &v, 2);
      } else if (dtype == DType::F16) {
        const auto v = to_f16(value);
        std::memcpy(at, &v, 2);
      } else if (dtype == DType::F32) std::memcpy(at, &value, 4);
      else {
        const double v = value;
        std::memcpy(at, &v, 8);
      }
    }
    file.write_at(buffer.data(), buffer.size(), offset + done * width);
  }
}

std::uint64_t fnv1a(const std::string& text) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (const char c : text) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
  return h;
}

void write_json(const fs::path& path, const ojson& value) {
  write_output_file(path, value.dump(2) + "\n", "a JSON file");
}

// The name transformers and diffusers give the dtype in config.json.
const char* torch_dtype_name(DType dtype) {
  switch (dtype) {
    case DType::F16: return "float16";
    case DType::F32: return "float32";
    case DType::F64: return "float64";
    default: return "bfloat16";
  }
}

void write_component(const SynthComponent& component, const fs::path& dir, const SynthWriteOptions& options,
                     SynthWriteResult& result) {
  fs::create_directories(dir);
  ojson config = component.config;
  if (config.contains("torch_dtype")) config["torch_dtype"] = torch_dtype_name(options.dtype);
  write_json(dir / "config.json", config);
  const unsigned bits = dtype_bits(options.dtype);

  // Greedy sharding in tensor order, as transformers' save_pretrained does.
  std::vector<std::vector<const SynthTensor*>> shards(1);
  std::uint64_t shard_bytes = 0;
  for (const auto& tensor : component.tensors) {
    const std::uint64_t bytes = tensor.elements() * bits / 8;
    if (shard_bytes > 0 && shard_bytes + bytes > options.max_shard_bytes) {
      shards.emplace_back();
      shard_bytes = 0;
    }
    shards.back().push_back(&tensor);
    shard_bytes += bytes;
  }

  ojson weight_map = ojson::object();
  std::uint64_t total = 0;
  for (std::size_t s = 0; s < shards.size(); ++s) {
    char numbered[64];
    std::snprintf(numbered, sizeof numbered, "-%05zu-of-%05zu", s + 1, shards.size());
    const std::string file_name =
        component.weights_basename + (shards.size() == 1 ? std::string{} : std::string(numbered)) + ".safetensors";
    ojson header = ojson::object();
    header["__metadata__"] = ojson{{"format", "pt"}, {"generated_by", "vramguard synth"}};
    std::uint64_t offset = 0;
    for (const auto* tensor : shards[s]) {
      const std::uint64_t bytes = tensor->elements() * bits / 8;
      header[tensor->name] = ojson{{"dtype", std::string(dtype_name(options.dtype))},
                                   {"shape", tensor->shape},
                                   {"data_offsets", {offset, offset + bytes}}};
      offset += bytes;
      weight_map[tensor->name] = file_name;
    }
    std::string text = header.dump();
    text.append((8 - text.size() % 8) % 8, ' ');  // keep the data area 8-byte aligned
    const std::uint64_t length = text.size();
    File file(dir / file_name);
    unsigned char prefix[8];
    for (int i = 0; i < 8; ++i) prefix[i] = static_cast<unsigned char>(length >> (8 * i));
    file.write_at(prefix, 8, 0);
    file.write_at(text.data(), text.size(), 8);
    file.set_size(8 + length + offset);  // zeros: a hole the file system does not store
    // With zeros, the 1-D tensors (norms and biases: a few MB of a 41 GB transformer) still get seeded
    // values: with every weight and bias zero, true CFG's norm rescale divides zero by zero, and an
    // edit's latents would be NaN (which vramguard refuses to turn into a black picture).
    std::uint64_t at = 8 + length;
    for (const auto* tensor : shards[s]) {
      if (options.data == SynthData::random || tensor->shape.size() == 1)
        write_random(file, at, tensor->elements(), options.dtype,
                     options.seed ^ fnv1a(component.name + "/" + tensor->name));
      at += tensor->elements() * bits / 8;
    }
    total += offset;
    result.files += 1;
    result.tensors += shards[s].size();
  }
  result.bytes += total;
  if (shards.size() > 1) {
    write_json(dir / (component.weights_basename + ".safetensors.index.json"),
               ojson{{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}});
  }
}

}  // namespace

SynthWriteResult write_checkpoint(const SynthModel& model, const fs::path& out, const SynthWriteOptions& options) {
  if (!dtype_is_floating(options.dtype) || dtype_bits(options.dtype) < 16 || options.dtype == DType::C64)
    throw UsageError("synth writes F16, BF16, F32 or F64 weights, not " + std::string(dtype_name(options.dtype)));
  std::error_code ec;
  if (fs::exists(out, ec) && !fs::is_directory(out, ec))
    throw UsageError("--out " + out.string() + " is a file, not a folder", "give a new folder's path");
  if (fs::exists(out, ec) && !fs::is_empty(out, ec))
    throw UsageError("output folder " + out.string() + " exists and is not empty", "choose a new folder or empty it");
  fs::create_directories(out);
  SynthWriteResult result;
  if (model.pipeline) {
    write_json(out / "model_index.json", model.model_index);
    for (const auto& component : model.components) write_component(component, out / component.name, options, result);
    for (const auto& [path, content] : model.files) {
      fs::create_directories((out / path).parent_path());
      write_json(out / path, content);
    }
  } else {
    for (const auto& component : model.components) write_component(component, out, options, result);
  }
  return result;
}

}  // namespace vramguard
