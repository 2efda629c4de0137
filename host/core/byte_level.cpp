#include "core/byte_level.hpp"

#include <cstdint>

namespace vramguard {

const std::array<std::string, 256>& byte_level_symbols() {
  static const std::array<std::string, 256> symbols = [] {
    std::array<std::string, 256> table;
    std::uint32_t next = 256;
    for (std::uint32_t b = 0; b < 256; ++b) {
      const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
      const std::uint32_t code = printable ? b : next++;  // below 0x800: one or two UTF-8 bytes
      if (code < 0x80) {
        table[b] += static_cast<char>(code);
      } else {
        table[b] += static_cast<char>(0xC0 | (code >> 6));
        table[b] += static_cast<char>(0x80 | (code & 0x3F));
      }
    }
    return table;
  }();
  return symbols;
}

}  // namespace vramguard
