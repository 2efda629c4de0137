#include "config_values.hpp"

#include "core/errors.hpp"

namespace vramguard {

ConfigValues::ConfigValues(const nlohmann::json& values, std::string file, std::string family)
    : values_(&values), file_(std::move(file)), family_(std::move(family)) {
  if (!values.is_object())
    throw InputError(file_, "has no config.json, which a " + family_ + " model needs for its dimensions",
                     "point vramguard at the folder the library saved (config.json beside the weights)");
}

ConfigValues ConfigValues::section(const char* key) const {
  const auto it = values_->find(key);
  if (it != values_->end() && it->is_object()) return ConfigValues(*it, file_, family_);
  return *this;
}

bool ConfigValues::has(const char* key) const {
  const auto it = values_->find(key);
  return it != values_->end() && !it->is_null();
}

std::int64_t ConfigValues::positive_integer(const char* key) const {
  if (!has(key))
    throw InputError(file_, std::string("needs \"") + key + "\" (a positive integer) to run a " + family_ + " model");
  return positive_integer(key, 0);
}

std::int64_t ConfigValues::positive_integer(const char* key, std::int64_t fallback) const {
  if (!has(key)) return fallback;
  const auto& value = (*values_)[key];
  if (!value.is_number_integer() || value.get<std::int64_t>() <= 0)
    throw InputError(file_, std::string("\"") + key + "\" must be a positive integer, not " + value.dump());
  // Sizes and counts multiply into others (heads x head_dim, a block's bytes): bounded before they overflow.
  if (value.get<std::int64_t>() > 1'000'000'000)
    throw InputError(file_,
                     std::string("\"") + key + "\" is " + value.dump() + ": no model's sizes or counts reach 10^9",
                     "fix the value in the file (the model's published config has it in range)");
  return value.get<std::int64_t>();
}

double ConfigValues::positive_number(const char* key, double fallback) const {
  if (!has(key)) return fallback;
  const auto& value = (*values_)[key];
  if (!value.is_number() || !(value.get<double>() > 0))
    throw InputError(file_, std::string("\"") + key + "\" must be a positive number, not " + value.dump());
  return value.get<double>();
}

bool ConfigValues::flag(const char* key, bool fallback) const {
  if (!has(key)) return fallback;
  const auto& value = (*values_)[key];
  if (!value.is_boolean())
    throw InputError(file_, std::string("\"") + key + "\" must be true or false, not " + value.dump());
  return value.get<bool>();
}

std::vector<std::int64_t> ConfigValues::integers(const char* key, std::vector<std::int64_t> fallback) const {
  if (!has(key)) return fallback;
  const auto& value = (*values_)[key];
  std::vector<std::int64_t> out;
  if (value.is_array())
    for (const auto& item : value) {
      if (!item.is_number_integer()) {
        out.clear();
        break;
      }
      out.push_back(item.get<std::int64_t>());
    }
  if (out.empty() && !(value.is_array() && value.empty()))
    throw InputError(file_, std::string("\"") + key + "\" must be a list of integers, not " + value.dump());
  return out;
}

std::vector<double> ConfigValues::numbers(const char* key) const {
  if (!has(key))
    throw InputError(file_, std::string("needs \"") + key + "\" (a list of numbers) to run a " + family_ + " model");
  const auto& value = (*values_)[key];
  std::vector<double> out;
  if (value.is_array())
    for (const auto& item : value)
      if (item.is_number()) out.push_back(item.get<double>());
  if (!value.is_array() || out.size() != value.size())
    throw InputError(file_, std::string("\"") + key + "\" must be a list of numbers, not " + value.dump());
  return out;
}

}  // namespace vramguard
