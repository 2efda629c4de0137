#include "vramguard/runtime/named_tensor_files.hpp"

#include <ATen/Functions.h>

#include <fcntl.h>
#include <unistd.h>

#include "core/errors.hpp"
#include "core/tensor_read.hpp"
#include "model/safetensors_header.hpp"
#include "model/safetensors_writer.hpp"
#include "torch_tensors.hpp"

namespace vramguard::runtime {
namespace {

DType dtype_of(c10::ScalarType type, const std::string& name) {
  switch (type) {
    case c10::kFloat: return DType::F32;
    case c10::kBFloat16: return DType::BF16;
    case c10::kHalf: return DType::F16;
    case c10::kDouble: return DType::F64;
    case c10::kLong: return DType::I64;
    case c10::kInt: return DType::I32;
    case c10::kShort: return DType::I16;
    case c10::kChar: return DType::I8;
    case c10::kByte: return DType::U8;
    case c10::kBool: return DType::BOOL;
    default:
      throw JobError(std::string("output '") + name + "' has a dtype safetensors cannot hold (" + c10::toString(type) +
                     ")");
  }
}

}  // namespace

NamedTensors read_named_tensors(const std::filesystem::path& file) {
  const std::string path = file.string();
  const SafetensorsHeader header = read_safetensors_header(path);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw InputError(path, "cannot be opened");
  NamedTensors out;
  try {
    for (const auto& entry : header.tensors) {
      at::Tensor tensor = at::empty(entry.shape, at::TensorOptions().dtype(scalar_type_of(entry.dtype, entry.name)));
      read_exact(fd, header.data_offset + entry.begin, entry.bytes(), static_cast<unsigned char*>(tensor.data_ptr()),
                 path);
      out.emplace(entry.name, std::move(tensor));
    }
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
  return out;
}

void write_named_tensors(const std::filesystem::path& file, const NamedTensors& tensors) {
  std::vector<at::Tensor> host;  // keeps the CPU copies alive while they are written
  std::vector<TensorToWrite> entries;
  for (const auto& [name, tensor] : tensors) {
    host.push_back(tensor.detach().to(at::kCPU).contiguous());
    entries.push_back(
        {name, dtype_of(host.back().scalar_type(), name), host.back().sizes().vec(), host.back().data_ptr()});
  }
  write_safetensors(file, entries);
}

}  // namespace vramguard::runtime
