#include "model/json_file.hpp"

#include <cmath>
#include <fstream>
#include <sstream>
#include <system_error>

#include "core/errors.hpp"

namespace vramguard {

namespace {
constexpr std::uintmax_t kMaxJsonBytes = 64ULL << 20;
}

nlohmann::json read_json_file(const std::filesystem::path& file) {
  std::error_code ec;
  const auto status = std::filesystem::status(file, ec);
  if (ec) throw InputError(file.string(), "cannot be read: " + ec.message());
  if (!std::filesystem::is_regular_file(status)) throw InputError(file.string(), "is not a regular file");
  const auto size = std::filesystem::file_size(file, ec);
  if (ec || size > kMaxJsonBytes) throw InputError(file.string(), "is larger than 64 MiB: not a model's JSON file");
  std::ifstream in(file, std::ios::binary);
  if (!in) throw InputError(file.string(), "cannot be opened");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    // e.what() quotes the bytes it last read; say where, not what.
    throw InputError(file.string(), "is not valid JSON (error at byte " + std::to_string(e.byte) + ")");
  }
}

bool json_bool(const nlohmann::json& object, const char* key, bool fallback, const std::string& file) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return fallback;
  if (!it->is_boolean())
    throw InputError(file, std::string("\"") + key + "\" must be true or false, not " + it->type_name(),
                     "fix the value in the file");
  return it->get<bool>();
}

double json_number(const nlohmann::json& object, const char* key, double fallback, const std::string& file) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return fallback;
  if (!it->is_number())
    throw InputError(file, std::string("\"") + key + "\" must be a number, not " + it->type_name(),
                     "fix the value in the file");
  return it->get<double>();
}

namespace {

std::string number_text(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

}  // namespace

double json_number_in(const nlohmann::json& object, const char* key, double fallback, double low, double high,
                      const std::string& file) {
  const double value = json_number(object, key, fallback, file);
  if (!(value >= low && value <= high))
    throw InputError(file,
                     std::string("\"") + key + "\" is " + number_text(value) + ", outside " + number_text(low) +
                         " to " + number_text(high),
                     "fix the value in the file (the model's published config has it in range)");
  return value;
}

std::int64_t json_integer_in(const nlohmann::json& object, const char* key, std::int64_t fallback, std::int64_t low,
                             std::int64_t high, const std::string& file) {
  const double value = json_number_in(object, key, static_cast<double>(fallback), static_cast<double>(low),
                                      static_cast<double>(high), file);
  if (value != std::floor(value))
    throw InputError(file, std::string("\"") + key + "\" is " + number_text(value) + ", not a whole number",
                     "fix the value in the file");
  return static_cast<std::int64_t>(value);
}

}  // namespace vramguard
