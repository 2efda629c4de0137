#pragma once
// Byte sizes as users write them. `12GB` = 12·10⁹ bytes, `12GiB` = 12·2³⁰ bytes (accelerate's
// convention), a plain integer is bytes. Anything else is refused, never guessed.
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace vramguard {

class InvalidByteSize : public std::invalid_argument {
 public:
  // `hint`: what to write instead (default: the accepted forms).
  InvalidByteSize(std::string text, std::string reason, std::string hint = {});
  const std::string& text() const noexcept { return text_; }
  const std::string& reason() const noexcept { return reason_; }
  const std::string& hint() const noexcept { return hint_; }

 private:
  std::string text_, reason_, hint_;
};

// The forms parse_byte_size accepts, for error messages and --help.
inline constexpr std::string_view kByteSizeForms =
    "an integer number of bytes (4096), or a number with a unit: KB MB GB TB (powers of 1000) "
    "or KiB MiB GiB TiB (powers of 1024), e.g. 12GB, 11.5GiB, 512MiB";

std::uint64_t parse_byte_size(std::string_view text);

// "12.00 GB (11.18 GiB)": every report prints both conventions.
std::string format_bytes(std::uint64_t bytes);
// Compact forms used in tables.
std::string format_gb(std::uint64_t bytes);   // "12.00"
std::string format_gib(std::uint64_t bytes);  // "11.18"

}  // namespace vramguard
