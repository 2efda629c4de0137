#pragma once
// A component's config.json, read with the file named in every complaint: each family reads its
// dimensions through this, so that a missing or wrong value is an InputError naming config.json and
// the key, raised before anything loads.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "vramguard/runtime/session.hpp"

namespace vramguard::runtime {

class ConfigValues {
 public:
  // The component's config; InputError when it has none (`family` says who needs it).
  ConfigValues(const ComponentDescription& component, const std::string& family);
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

}  // namespace vramguard::runtime
