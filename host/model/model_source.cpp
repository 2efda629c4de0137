#include "model/model_source.hpp"

#include <algorithm>
#include <fstream>
#include <regex>

#include "core/errors.hpp"
#include "core/text.hpp"
#include "model/checkpoint_error.hpp"

namespace fs = std::filesystem;

namespace vramguard {
namespace {

using json = nlohmann::json;

json read_json(const fs::path& file) {
  std::ifstream in(file);
  if (!in) throw InputError(file.string(), "cannot open");
  try {
    return json::parse(in);
  } catch (const json::parse_error& e) {
    throw InputError(file.string(), std::string("not valid JSON: ") + e.what());
  }
}

std::vector<fs::path> files_with_suffix(const fs::path& dir, std::string_view suffix) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    if (text::ends_with(it->path().filename().string(), suffix) && it->is_regular_file(ec)) out.push_back(it->path());
  std::sort(out.begin(), out.end());
  return out;
}

// Reads the index into the component: its weight map and the shards it names, each once, in
// first-mention order; every one must exist.
void read_index(ComponentSource& component, const fs::path& index_file) {
  component.index_file = index_file;
  const json index = read_json(index_file);
  const auto map = index.find("weight_map");
  if (map == index.end() || !map->is_object())
    throw CheckpointError(index_file.string(), "no \"weight_map\" object: not a safetensors index");
  std::vector<fs::path>& shards = component.weight_files;
  shards.clear();
  for (const auto& [tensor, shard] : map->items()) {
    if (!shard.is_string()) throw CheckpointError(index_file.string(), "its shard is not a file name", tensor);
    component.index_weight_map.emplace(tensor, shard.get<std::string>());
    const fs::path file = index_file.parent_path() / shard.get<std::string>();
    if (std::find(shards.begin(), shards.end(), file) == shards.end()) {
      if (!fs::is_regular_file(file))
        throw CheckpointError(index_file.string(), "shard " + file.filename().string() + " is missing (expected at " +
                                                       file.string() + ")", tensor);
      shards.push_back(file);
    }
  }
}

// A folder's weights: a sharded index if there is one, else every .safetensors file.
void find_weights(ComponentSource& component) {
  const auto indices = files_with_suffix(component.directory, ".safetensors.index.json");
  if (indices.size() > 1)
    throw InputError(component.directory.string(), "more than one *.safetensors.index.json; keep one");
  if (indices.size() == 1) {
    read_index(component, indices.front());
    return;
  }
  component.weight_files = files_with_suffix(component.directory, ".safetensors");
}

std::optional<json> config_beside(const fs::path& dir) {
  const fs::path file = dir / "config.json";
  if (fs::is_regular_file(file)) return read_json(file);
  return std::nullopt;
}

// Text encoders run first, then the denoiser, then the VAE decodes.
int pipeline_rank(const std::string& name) {
  if (name.find("text_encoder") != std::string::npos) return 0;
  if (name == "transformer" || name == "unet" || name == "prior") return 1;
  if (name == "vae") return 2;
  return 3;
}

ModelSource from_directory(const fs::path& dir) {
  ModelSource source;
  source.root = dir;
  if (fs::is_regular_file(dir / "model_index.json")) {
    source.layout = "diffusers pipeline";
    const json index = read_json(dir / "model_index.json");
    if (!index.is_object()) throw InputError((dir / "model_index.json").string(), "not a JSON object");
    for (const auto& [name, value] : index.items()) {
      if (text::starts_with(name, "_") || !value.is_array()) continue;
      ComponentSource component{name, dir / name, std::nullopt, {}, std::nullopt};
      if (!fs::is_directory(component.directory)) continue;
      find_weights(component);
      if (component.weight_files.empty()) continue;  // tokenizer, scheduler, processor...
      component.config = config_beside(component.directory);
      source.components.push_back(std::move(component));
    }
    std::stable_sort(source.components.begin(), source.components.end(),
                     [](const auto& a, const auto& b) { return pipeline_rank(a.name) < pipeline_rank(b.name); });
    if (source.components.empty())
      throw InputError(dir.string(), "model_index.json names no component folder with .safetensors weights");
    return source;
  }
  ComponentSource component{"model", dir, config_beside(dir), {}, std::nullopt};
  find_weights(component);
  if (component.weight_files.empty()) {
    const bool pickles = !files_with_suffix(dir, ".bin").empty() || !files_with_suffix(dir, ".pt").empty();
    throw InputError(dir.string(), pickles ? "has only PyTorch pickle weights (.bin/.pt); vramguard reads safetensors"
                                           : "has no .safetensors weights, no index and no model_index.json",
                     pickles ? "convert them to safetensors (e.g. save_pretrained(..., safe_serialization=True))"
                             : "point at a model folder, a .safetensors file or an index");
  }
  source.layout = component.config ? "transformers folder" : (component.index_file ? "sharded checkpoint" : "safetensors file");
  source.components.push_back(std::move(component));
  return source;
}

ModelSource from_hub_cache(const std::string& argument, const Environment& environment) {
  static const std::regex repo_id(R"(^([A-Za-z0-9][\w.-]*)/([\w.-]+)(?:@([\w./-]+))?$)");
  std::smatch match;
  std::regex_search(argument, match, repo_id);
  const std::string org = match[1], name = match[2];
  const std::string revision = match[3].matched ? std::string(match[3]) : "main";
  const fs::path cache = hub_cache_dir(environment);
  const fs::path repo = cache / ("models--" + org + "--" + name);
  if (!fs::is_directory(repo))
    throw InputError(argument, "not a local path, and not in the Hugging Face cache (looked in " + repo.string() + ")",
                     "vramguard never downloads: fetch it first (huggingface-cli download " + org + "/" + name +
                         "), or set HF_HUB_CACHE / HF_HOME to the cache that has it");
  std::string commit = revision;
  if (fs::is_regular_file(repo / "refs" / revision)) {
    std::ifstream in(repo / "refs" / revision);
    std::getline(in, commit);
    commit = std::string(text::trim(commit));
  }
  const fs::path snapshot = repo / "snapshots" / commit;
  if (!fs::is_directory(snapshot))
    throw InputError(argument, "revision '" + revision + "' is not in the cache (looked for " + snapshot.string() + ")",
                     "available snapshots are under " + (repo / "snapshots").string());
  ModelSource source = from_directory(snapshot);
  source.hub_revision = commit;
  return source;
}

}  // namespace

fs::path hub_cache_dir(const Environment& environment) {
  if (const auto it = environment.find("HF_HUB_CACHE"); it != environment.end() && !it->second.empty()) return it->second;
  if (const auto it = environment.find("HF_HOME"); it != environment.end() && !it->second.empty())
    return fs::path(it->second) / "hub";
  const auto home = environment.find("HOME");
  return fs::path(home != environment.end() ? home->second : "/root") / ".cache" / "huggingface" / "hub";
}

ModelSource resolve_model_source(const std::string& argument, const Environment& environment) {
  if (argument.empty()) throw UsageError("no model given", "pass a model folder, a .safetensors file or org/name");
  const fs::path path(argument);
  std::error_code ec;
  ModelSource source;
  if (fs::is_directory(path, ec)) {
    source = from_directory(path);
  } else if (fs::is_regular_file(path, ec)) {
    const std::string file = path.filename().string();
    ComponentSource component{"model", path.parent_path(), config_beside(path.parent_path()), {}, std::nullopt};
    if (text::ends_with(file, ".safetensors.index.json")) {
      read_index(component, path);
      source.layout = "sharded checkpoint";
    } else if (text::ends_with(file, ".safetensors")) {
      component.weight_files = {path};
      source.layout = "safetensors file";
    } else {
      throw InputError(argument, "not a .safetensors file, an index (.safetensors.index.json) or a model folder");
    }
    source.root = path.parent_path();
    source.components.push_back(std::move(component));
  } else if (argument.find('/') != std::string::npos && argument.front() != '/' && argument.front() != '.' &&
             std::count(argument.begin(), argument.end(), '/') == 1) {
    source = from_hub_cache(argument, environment);
  } else {
    throw InputError(argument, "no such file or folder", "give a model folder, a .safetensors file, or org/name from the Hugging Face cache");
  }
  source.argument = argument;
  return source;
}

}  // namespace vramguard
