#pragma once
// Reading one named tensor of a safetensors file into a vector, for tests that compare against a
// fixture's stored values without libtorch.
#include <cstdint>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "model/safetensors_header.hpp"

namespace vramguard::testing {

template <typename T>
std::vector<T> stored_tensor(const std::string& path, const std::string& name,
                             std::vector<std::int64_t>* shape = nullptr) {
  const SafetensorsHeader header = read_safetensors_header(path);
  for (const auto& entry : header.tensors) {
    if (entry.name != name) continue;
    if (entry.bytes() != entry.elements * sizeof(T))
      throw std::runtime_error(name + " in " + path + " is not of the element size asked for");
    std::vector<T> values(entry.elements);
    std::ifstream in(path, std::ios::binary);
    in.seekg(static_cast<std::streamoff>(header.data_offset + entry.begin));
    in.read(reinterpret_cast<char*>(values.data()), static_cast<std::streamsize>(entry.bytes()));
    if (!in) throw std::runtime_error("could not read " + name + " from " + path);
    if (shape != nullptr) *shape = entry.shape;
    return values;
  }
  throw std::runtime_error(path + " has no tensor " + name);
}

}  // namespace vramguard::testing
