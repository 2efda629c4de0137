#pragma once
// The symbols a shared library defines in one section, read from its ELF file before anything loads
// it. Every offset, size and string is checked against the file first: a damaged or hostile file
// gives an ElfError, never a crash (Boost.DLL's reader dereferenced section names unchecked).
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace vramguard {

class ElfError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// `file` is read with pread; `file_bytes` bounds every read. Only 64-bit little-endian ELF is read.
std::vector<std::string> elf_section_symbols(int file, std::uint64_t file_bytes, std::string_view section);
// The same over bytes in memory (for the fuzz target and tests).
std::vector<std::string> elf_section_symbols(std::string_view image, std::string_view section);

}  // namespace vramguard
