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

}  // namespace vramguard
