#pragma once
// Reading the JSON files of a model folder (config.json, indexes, model_index.json). Errors name the
// file and the key and never quote the file's bytes: a path that points at something other than a
// model file must not leak what is in it.
#include <cstdint>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

namespace vramguard {

// Throws InputError for a missing, oversized (> 64 MiB) or malformed file.
nlohmann::json read_json_file(const std::filesystem::path& file);

// Typed reads of optional keys: the fallback when absent, InputError naming file and key when the
// value has the wrong type.
bool json_bool(const nlohmann::json& object, const char* key, bool fallback, const std::string& file);
double json_number(const nlohmann::json& object, const char* key, double fallback, const std::string& file);
// The same, also refusing (InputError naming file, key, value and range) a value outside [low, high]:
// what a cast or a formula downstream could not take (1e12 timesteps, a shift of 1e308, NaN).
double json_number_in(const nlohmann::json& object, const char* key, double fallback, double low, double high,
                      const std::string& file);
// A whole number in [low, high]: 0.5 or 1e10 where a count goes is refused, not cast.
std::int64_t json_integer_in(const nlohmann::json& object, const char* key, std::int64_t fallback, std::int64_t low,
                             std::int64_t high, const std::string& file);

}  // namespace vramguard
