#pragma once
// A component's config.json, read with the file named in every complaint: each family's config reader
// (<family>_config.cpp) reads its keys through this, so that a missing or wrong value is an InputError
// naming config.json and the key, raised before anything loads. libtorch-free: planning reads configs too.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace vramguard {

class ConfigValues {
 public:
  // `values` must be an object: InputError naming `file` when it is not (the component has no config.json,
  // which `family` needs for its dimensions).
  ConfigValues(const nlohmann::json& values, std::string file, std::string family);

  // A section ("text_config", "vision_config") when it is an object, else this config itself.
  ConfigValues section(const char* key) const;
  bool has(const char* key) const;
  std::int64_t positive_integer(const char* key) const;                         // required, > 0
  std::int64_t positive_integer(const char* key, std::int64_t fallback) const;  // when present, > 0
  double positive_number(const char* key, double fallback) const;               // when present, > 0
  bool flag(const char* key, bool fallback) const;
  std::vector<std::int64_t> integers(const char* key, std::vector<std::int64_t> fallback) const;
  std::vector<double> numbers(const char* key) const;  // required
  const nlohmann::json& json() const { return *values_; }
  const std::string& file() const { return file_; }

 private:
  const nlohmann::json* values_;
  std::string file_;
  std::string family_;
};

}  // namespace vramguard
