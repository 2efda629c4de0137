#include "vramguard/byte_size.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>

namespace vramguard {

InvalidByteSize::InvalidByteSize(std::string text, std::string reason, std::string hint)
    : std::invalid_argument("invalid size '" + text + "': " + reason + "; accepted: " + std::string(kByteSizeForms)),
      text_(std::move(text)),
      reason_(std::move(reason)),
      hint_(hint.empty() ? "give " + std::string(kByteSizeForms) : std::move(hint)) {}

namespace {

struct UnitFactor {
  std::string_view suffix;
  double factor;
};

// Case matters: "12gb" could mean either convention, so it is refused rather than guessed.
constexpr std::array<UnitFactor, 9> kUnits{{
    {"B", 1.0},
    {"KB", 1e3},
    {"MB", 1e6},
    {"GB", 1e9},
    {"TB", 1e12},
    {"KiB", 1024.0},
    {"MiB", 1048576.0},
    {"GiB", 1073741824.0},
    {"TiB", 1099511627776.0},
}};

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

}  // namespace

std::uint64_t parse_byte_size(std::string_view original) {
  const std::string text(original);
  std::string_view s = trim(original);
  if (s.empty()) throw InvalidByteSize(text, "it is empty");
  if (s.front() == '-') throw InvalidByteSize(text, "a size cannot be negative");
  if (s.front() == '+') s.remove_prefix(1);

  std::size_t number_end = 0;
  bool seen_dot = false;
  bool seen_digit = false;
  while (number_end < s.size()) {
    const char c = s[number_end];
    if (std::isdigit(static_cast<unsigned char>(c))) {
      seen_digit = true;
    } else if (c == '.' && !seen_dot) {
      seen_dot = true;
    } else {
      break;
    }
    ++number_end;
  }
  if (!seen_digit) throw InvalidByteSize(text, "it does not start with a number");
  const std::string_view number = s.substr(0, number_end);
  const std::string_view suffix = trim(s.substr(number_end));

  if (suffix.empty()) {
    if (seen_dot) throw InvalidByteSize(text, "a plain number is bytes and must be a whole number");
    std::uint64_t value = 0;
    const auto [ptr, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
    if (ec == std::errc::result_out_of_range) throw InvalidByteSize(text, "it is too large");
    if (ec != std::errc() || ptr != number.data() + number.size()) throw InvalidByteSize(text, "it is not a number");
    return value;
  }

  const UnitFactor* unit = nullptr;
  for (const auto& candidate : kUnits)
    if (candidate.suffix == suffix) unit = &candidate;
  if (unit == nullptr) {
    // "12gb", "12Gb": accelerate reads a lowercase b as bits, so the same text means 1.5 GB there.
    for (const auto& candidate : kUnits) {
      const bool same_letters =
          candidate.suffix.size() == suffix.size() &&
          std::equal(suffix.begin(), suffix.end(), candidate.suffix.begin(), [](char a, char b) {
            return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
          });
      if (same_letters)
        throw InvalidByteSize(
            text,
            "a lowercase unit is ambiguous (accelerate reads a lowercase 'b' as bits: 12gb = 1.5 "
            "GB), so vramguard refuses it",
            "write '" + std::string(number) + std::string(candidate.suffix) + "' (" +
                (candidate.factor == 1.0 || candidate.suffix.size() == 2 ? "powers of 1000" : "powers of 1024") + ")");
    }
    throw InvalidByteSize(text, "unknown unit '" + std::string(suffix) + "'");
  }
  // std::from_chars for double is missing from older libstdc++; strtod on a bounded copy is exact enough.
  const std::string number_text(number);
  char* end = nullptr;
  const double value = std::strtod(number_text.c_str(), &end);
  if (end != number_text.c_str() + number_text.size() || !std::isfinite(value))
    throw InvalidByteSize(text, "it is not a number");
  const double bytes = std::round(value * unit->factor);
  if (bytes >= 18446744073709551616.0) throw InvalidByteSize(text, "it is too large");
  return static_cast<std::uint64_t>(bytes);
}

std::string format_gb(std::uint64_t bytes) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.2f", static_cast<double>(bytes) / 1e9);
  return buffer;
}

std::string format_gib(std::uint64_t bytes) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.2f", static_cast<double>(bytes) / 1073741824.0);
  return buffer;
}

std::string format_bytes(std::uint64_t bytes) {
  // Both conventions, at a scale where the figure still says something.
  const double b = static_cast<double>(bytes);
  char buffer[64];
  if (bytes >= 1'000'000'000ULL || bytes == 0) return format_gb(bytes) + " GB (" + format_gib(bytes) + " GiB)";
  if (bytes >= 1'000'000ULL) std::snprintf(buffer, sizeof buffer, "%.2f MB (%.2f MiB)", b / 1e6, b / 1048576.0);
  else if (bytes >= 1'000ULL) std::snprintf(buffer, sizeof buffer, "%.2f KB (%.2f KiB)", b / 1e3, b / 1024.0);
  else std::snprintf(buffer, sizeof buffer, "%llu bytes", static_cast<unsigned long long>(bytes));
  return buffer;
}

}  // namespace vramguard
