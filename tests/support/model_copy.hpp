#pragma once
// A writable copy of a model folder with one piece of its config.json's text replaced: a config that
// says something else about the same weights.
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace vramguard::testing {

// Copies `model` to `copy` and replaces the first `from` in its config.json with `to`. False when the
// config holds no `from` (the copy is then left unchanged).
inline bool copy_with_config_edit(const std::filesystem::path& model, const std::filesystem::path& copy,
                                  const std::string& from, const std::string& to) {
  std::filesystem::copy(model, copy, std::filesystem::copy_options::recursive);
  const std::filesystem::path config_file = copy / "config.json";
  std::filesystem::permissions(config_file, std::filesystem::perms::owner_write, std::filesystem::perm_options::add);
  std::string config;
  {
    std::ifstream in(config_file);
    config.assign(std::istreambuf_iterator<char>(in), {});
  }
  const auto at = config.find(from);
  if (at == std::string::npos) return false;
  config.replace(at, from.size(), to);
  std::ofstream(config_file, std::ios::trunc) << config;
  return true;
}

}  // namespace vramguard::testing
