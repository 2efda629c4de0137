// libFuzzer target for the ELF symbol reader that vets plugins before they load: any bytes must give a
// list of symbols or an ElfError, never a crash, a hang or an out-of-bounds read.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "plugins/elf_symbols.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view image(reinterpret_cast<const char*>(data), size);
  try {
    (void)vramguard::elf_section_symbols(image, "boostdll");
  } catch (const vramguard::ElfError&) {
  }
  return 0;
}
