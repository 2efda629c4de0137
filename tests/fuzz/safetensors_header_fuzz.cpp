// libFuzzer target for the safetensors header parser: any bytes must give a header or a
// CheckpointError — never a crash, a hang, an overflow or an uncaught exception of another kind.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "model/checkpoint_error.hpp"
#include "model/safetensors_header.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  try {
    const auto header = vramguard::parse_safetensors_header(bytes, size, "fuzz.safetensors");
    // What the parser accepted must be self-consistent: tensors inside the data area, in order.
    std::uint64_t previous_end = 0;
    for (const auto& tensor : header.tensors) {
      if (tensor.end > size - header.data_offset) __builtin_trap();
      if (tensor.bytes() > 0 && tensor.begin < previous_end) __builtin_trap();
      if (tensor.bytes() > 0) previous_end = tensor.end;
    }
  } catch (const vramguard::CheckpointError&) {
  }
  return 0;
}
