#include "guard/verify.hpp"

#include <map>

#include "load/dtype_conversion.hpp"

namespace vramguard {
namespace {

std::uint64_t fnv1a(const unsigned char* data, std::uint64_t size) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (std::uint64_t i = 0; i < size; ++i) h = (h ^ data[i]) * 0x100000001b3ULL;
  return h;
}

}  // namespace

std::uint64_t verify_loaded_model(DeviceRuntime& runtime, const InspectedModel& model, const Placement& placement,
                                  const LoadedModel& loaded, std::optional<DType> target_dtype, bool check_data) {
  std::map<std::pair<std::string, std::string>, const LoadedTensor*> by_name;
  for (const auto& t : loaded.tensors()) by_name[{t.component, t.name}] = &t;
  std::uint64_t checked = 0;
  std::vector<unsigned char> device_bytes, file_bytes;
  std::map<std::string, std::unique_ptr<MappedFile>> files;
  for (std::size_t c = 0; c < model.graph.components.size(); ++c) {
    const Component& component = model.graph.components[c];
    for (const auto& unit : component.units) {
      const UnitPlacement* placed = placement.find(component.name, unit.name);
      for (const auto& tensor : unit.tensors) {
        const auto it = by_name.find({component.name, tensor.name});
        const std::string where = component.name + "/" + tensor.name;
        if (it == by_name.end()) throw VerificationError("tensor " + where + " was not loaded");
        const LoadedTensor& t = *it->second;
        const std::string expected_device = placed->storage;
        if (t.device != expected_device)
          throw VerificationError("tensor " + where + " is on " + t.device + ", its plan says " + expected_device);
        if (t.shape != tensor.shape) throw VerificationError("tensor " + where + " has the wrong shape");
        const DType expected = t.device == "disk" ? tensor.dtype
                                                  : (target_dtype && dtype_is_floating(tensor.dtype) ? *target_dtype : tensor.dtype);
        if (t.dtype != expected)
          throw VerificationError("tensor " + where + " is " + std::string(dtype_name(t.dtype)) + ", expected " +
                                  std::string(dtype_name(expected)));
        if (t.device != "disk" && t.bytes > 0 && (t.block == nullptr || t.offset + t.bytes > t.block->size()))
          throw VerificationError("tensor " + where + " lies outside its block");
        ++checked;
        if (!check_data || t.device == "disk" || !t.tied_to.empty() || t.bytes == 0) continue;
        device_bytes.resize(t.bytes);
        runtime.read_back(*t.block, t.offset, t.bytes, device_bytes.data());
        const TensorLocation& at = model.components[c].locations.at(tensor.name);
        const std::string path = model.components[c].source.weight_files[at.file].string();
        auto& file = files[path];
        if (!file) file = std::make_unique<MappedFile>(path);
        file_bytes.resize(t.bytes);
        convert_elements(file->data() + at.offset, tensor.dtype, file_bytes.data(), t.dtype, tensor.elements);
        if (fnv1a(device_bytes.data(), t.bytes) != fnv1a(file_bytes.data(), t.bytes))
          throw VerificationError("the bytes of " + where + " on " + t.device + " differ from the file's");
      }
    }
  }
  return checked;
}

}  // namespace vramguard
