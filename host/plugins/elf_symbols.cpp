#include "plugins/elf_symbols.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <functional>

namespace vramguard {
namespace {

constexpr std::uint64_t kHeaderBytes = 64;
constexpr std::uint64_t kSectionHeaderBytes = 64;
constexpr std::uint64_t kSymbolBytes = 24;
constexpr std::uint32_t kSymtab = 2, kDynsym = 11;
constexpr std::uint64_t kMaxTableBytes = 256ULL << 20;  // no sane plugin has larger symbol or string tables

// Reads [offset, offset + bytes) of the image, refusing anything outside it.
using Reader = std::function<void(std::uint64_t offset, std::uint64_t bytes, unsigned char* out)>;

template <typename T>
T little_endian(const unsigned char* p) {
  T value = 0;
  for (std::size_t i = sizeof(T); i-- > 0;) value = static_cast<T>((value << 8) | p[i]);
  return value;
}

struct Section {
  std::uint32_t name = 0, type = 0, link = 0;
  std::uint64_t offset = 0, size = 0, entry_size = 0;
};

std::vector<unsigned char> read_range(const Reader& read, std::uint64_t size_limit, std::uint64_t file_bytes,
                                      std::uint64_t offset, std::uint64_t bytes, const char* what) {
  if (bytes > size_limit) throw ElfError(std::string(what) + " is implausibly large");
  if (offset > file_bytes || bytes > file_bytes - offset)
    throw ElfError(std::string(what) + " lies past the end of the file");
  std::vector<unsigned char> out(bytes);
  if (bytes) read(offset, bytes, out.data());
  return out;
}

// A NUL-terminated string at `at` inside `table`.
std::string string_at(const std::vector<unsigned char>& table, std::uint64_t at, const char* what) {
  if (at >= table.size()) throw ElfError(std::string(what) + " points outside its string table");
  const auto* begin = reinterpret_cast<const char*>(table.data() + at);
  const void* end = std::memchr(begin, '\0', table.size() - at);
  if (end == nullptr) throw ElfError(std::string(what) + " is not terminated inside its string table");
  return std::string(begin, static_cast<const char*>(end));
}

std::vector<std::string> read_symbols(const Reader& read, std::uint64_t file_bytes, std::string_view wanted) {
  const auto header = read_range(read, kHeaderBytes, file_bytes, 0, kHeaderBytes, "the ELF header");
  if (std::memcmp(header.data(),
                  "\x7f"
                  "ELF",
                  4) != 0)
    throw ElfError("not an ELF file");
  if (header[4] != 2 || header[5] != 1) throw ElfError("not a 64-bit little-endian ELF file");
  const auto section_offset = little_endian<std::uint64_t>(&header[0x28]);
  const auto entry_size = little_endian<std::uint16_t>(&header[0x3A]);
  const auto count = little_endian<std::uint16_t>(&header[0x3C]);
  const auto names_index = little_endian<std::uint16_t>(&header[0x3E]);
  if (count == 0) throw ElfError("it has no section headers");
  if (entry_size != kSectionHeaderBytes) throw ElfError("its section headers have an unexpected size");
  if (names_index >= count) throw ElfError("its section-name table index is out of range");
  const auto table = read_range(read, kMaxTableBytes, file_bytes, section_offset,
                                std::uint64_t{count} * kSectionHeaderBytes, "the section header table");
  std::vector<Section> sections(count);
  for (std::size_t i = 0; i < count; ++i) {
    const unsigned char* p = table.data() + i * kSectionHeaderBytes;
    sections[i] = {little_endian<std::uint32_t>(p),        little_endian<std::uint32_t>(p + 4),
                   little_endian<std::uint32_t>(p + 0x28), little_endian<std::uint64_t>(p + 0x18),
                   little_endian<std::uint64_t>(p + 0x20), little_endian<std::uint64_t>(p + 0x38)};
  }
  const Section& names = sections[names_index];
  const auto name_table =
      read_range(read, kMaxTableBytes, file_bytes, names.offset, names.size, "the section-name table");
  std::size_t target = 0;
  bool found = false;
  for (std::size_t i = 0; i < count && !found; ++i)
    if (string_at(name_table, sections[i].name, "a section name") == wanted) target = i, found = true;
  if (!found) return {};

  std::vector<std::string> symbols;
  for (const Section& symtab : sections) {
    if (symtab.type != kSymtab && symtab.type != kDynsym) continue;
    if (symtab.entry_size != kSymbolBytes) throw ElfError("a symbol table has entries of an unexpected size");
    if (symtab.link >= count) throw ElfError("a symbol table names a string table out of range");
    const auto entries = read_range(read, kMaxTableBytes, file_bytes, symtab.offset,
                                    symtab.size / kSymbolBytes * kSymbolBytes, "a symbol table");
    const Section& strings = sections[symtab.link];
    const auto string_table =
        read_range(read, kMaxTableBytes, file_bytes, strings.offset, strings.size, "a symbol string table");
    for (std::uint64_t at = 0; at + kSymbolBytes <= entries.size(); at += kSymbolBytes) {
      const unsigned char* p = entries.data() + at;
      if (little_endian<std::uint16_t>(p + 6) != target) continue;
      const auto name = string_at(string_table, little_endian<std::uint32_t>(p), "a symbol name");
      if (!name.empty()) symbols.push_back(name);
    }
  }
  return symbols;
}

}  // namespace

std::vector<std::string> elf_section_symbols(int file, std::uint64_t file_bytes, std::string_view section) {
  const Reader read = [file](std::uint64_t offset, std::uint64_t bytes, unsigned char* out) {
    std::uint64_t done = 0;
    while (done < bytes) {
      const ssize_t n = ::pread(file, out + done, bytes - done, static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw ElfError(n < 0 ? std::string("reading it failed: ") + std::strerror(errno) : "it ended early");
      done += static_cast<std::uint64_t>(n);
    }
  };
  return read_symbols(read, file_bytes, section);
}

std::vector<std::string> elf_section_symbols(std::string_view image, std::string_view section) {
  const Reader read = [image](std::uint64_t offset, std::uint64_t bytes, unsigned char* out) {
    std::memcpy(out, image.data() + offset, bytes);
  };
  return read_symbols(read, image.size(), section);
}

}  // namespace vramguard
