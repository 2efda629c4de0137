#pragma once
// Where a model's files are: resolves what the user typed (a .safetensors file, an index, a
// transformers folder, a diffusers pipeline folder, or `org/name[@revision]` in the Hugging Face cache,
// offline) into components, each with its config and its weight files. Reads no tensor data.
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/environment.hpp"

namespace vramguard {

struct ComponentSource {
  std::string name;  // "model", or the diffusers subfolder: "transformer"
  std::filesystem::path directory;
  std::optional<nlohmann::json> config;  // config.json, when there is one
  std::vector<std::filesystem::path> weight_files;
  std::optional<std::filesystem::path> index_file;      // *.safetensors.index.json of a sharded checkpoint
  std::map<std::string, std::string> index_weight_map;  // its tensor → shard file name
  // Given with --component NAME=FILE rather than found in the folder: the file may hold its names under a
  // single-file checkpoint's prefix (ComfyUI's model.diffusion_model.), which the inspection takes off.
  bool weights_file_given = false;
};

struct ModelSource {
  std::string argument;  // as given
  std::filesystem::path root;
  std::string layout;  // "safetensors file", "sharded checkpoint", "transformers folder", "diffusers pipeline"
  std::optional<std::string> hub_revision;  // set when resolved through the Hugging Face cache
  std::vector<ComponentSource> components;
};

// `component_files`: components whose weights come from one given safetensors file each (--component
// NAME=FILE) instead of their folder's, which then need no weights of their own. InputError for a name the
// pipeline does not have, a model that is no pipeline, or a file that is not a regular .safetensors file.
ModelSource resolve_model_source(const std::string& argument, const Environment& environment,
                                 const std::map<std::string, std::filesystem::path>& component_files = {});

// The Hugging Face hub cache directory, as huggingface_hub picks it: HF_HUB_CACHE, HF_HOME/hub,
// ~/.cache/huggingface/hub.
std::filesystem::path hub_cache_dir(const Environment& environment);

}  // namespace vramguard
