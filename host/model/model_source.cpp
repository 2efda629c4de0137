#include "model/model_source.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>

#include "core/errors.hpp"
#include "core/text.hpp"
#include "model/checkpoint_error.hpp"
#include "model/json_file.hpp"

namespace fs = std::filesystem;

namespace vramguard {
namespace {

using json = nlohmann::json;

// Hugging Face's own limits are 96 characters per name; anything much longer is not a repo id.
constexpr std::size_t kMaxRepoPartLength = 96;
constexpr std::size_t kMaxRevisionLength = 256;
constexpr std::size_t kMaxShownLength = 120;

// Long arguments are shortened in messages, so that a 50,000-character mistake stays readable.
std::string shown(const std::string& text) {
  return text.size() <= kMaxShownLength
             ? text
             : text.substr(0, kMaxShownLength) + "… (" + std::to_string(text.size()) + " characters)";
}

// A name a model file may use for a file or folder beside it: one path component, no way up or out.
bool plain_name(const std::string& name) {
  return !name.empty() && name.size() <= 255 && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\0') == std::string::npos;
}

bool within(const fs::path& path, const fs::path& root) {
  const auto p = path.lexically_normal(), r = root.lexically_normal();
  auto [root_end, _] = std::mismatch(r.begin(), r.end(), p.begin(), p.end());
  return root_end == r.end();
}

// The canonical path of something a model file names, which must lie inside `root` (canonical).
fs::path confined(const fs::path& path, const fs::path& root, const std::string& named_in) {
  std::error_code ec;
  const fs::path resolved = fs::weakly_canonical(path, ec);
  if (ec) throw InputError(named_in, "names " + path.string() + ", which cannot be resolved: " + ec.message());
  if (!within(resolved, root))
    throw InputError(named_in, "names " + path.string() + ", which lies outside " + root.string(),
                     "a model's files may only refer to files inside its own folder");
  return resolved;
}

std::vector<fs::path> files_with_suffix(const fs::path& dir, std::string_view suffix) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    if (text::ends_with(it->path().filename().string(), suffix) && it->is_regular_file(ec)) out.push_back(it->path());
  if (ec) throw InputError(dir.string(), "cannot be listed: " + ec.message());
  std::sort(out.begin(), out.end());
  return out;
}

// Reads the index into the component: its weight map and the shards it names, each once, in
// first-mention order; every one must exist beside the index.
void read_index(ComponentSource& component, const fs::path& index_file, const fs::path& root) {
  component.index_file = index_file;
  const json index = read_json_file(index_file);
  const auto map = index.find("weight_map");
  if (map == index.end() || !map->is_object())
    throw CheckpointError(index_file.string(), "no \"weight_map\" object: not a safetensors index");
  std::vector<fs::path>& shards = component.weight_files;
  shards.clear();
  for (const auto& [tensor, shard] : map->items()) {
    if (!shard.is_string()) throw CheckpointError(index_file.string(), "its shard is not a file name", tensor);
    const std::string& name = shard.get_ref<const std::string&>();
    if (!plain_name(name))
      throw CheckpointError(index_file.string(), "its shard '" + shown(name) + "' is not a file name beside the index",
                            tensor);
    component.index_weight_map.emplace(tensor, name);
    const fs::path file = index_file.parent_path() / name;
    if (std::find(shards.begin(), shards.end(), file) == shards.end()) {
      std::error_code ec;
      if (!fs::is_regular_file(file, ec))
        throw CheckpointError(index_file.string(), "shard " + name + " is missing (expected at " + file.string() + ")",
                              tensor);
      confined(file, root, index_file.string());
      shards.push_back(file);
    }
  }
}

// A folder's weights: a sharded index if there is one, else every .safetensors file.
void find_weights(ComponentSource& component, const fs::path& root) {
  const auto indices = files_with_suffix(component.directory, ".safetensors.index.json");
  if (indices.size() > 1)
    throw InputError(component.directory.string(), "more than one *.safetensors.index.json; keep one");
  if (indices.size() == 1) {
    read_index(component, indices.front(), root);
    return;
  }
  component.weight_files = files_with_suffix(component.directory, ".safetensors");
  for (const auto& file : component.weight_files) confined(file, root, component.directory.string());
}

std::optional<json> config_beside(const fs::path& dir) {
  const fs::path file = dir / "config.json";
  std::error_code ec;
  if (fs::is_regular_file(file, ec)) return read_json_file(file);
  return std::nullopt;
}

// Text encoders run first, then the denoiser, then the VAE decodes.
int pipeline_rank(const std::string& name) {
  if (name.find("text_encoder") != std::string::npos) return 0;
  if (name == "transformer" || name == "unet" || name == "prior") return 1;
  if (name == "vae") return 2;
  return 3;
}

using ComponentFiles = std::map<std::string, fs::path>;

// A component's weights from the file --component NAME=FILE gives: the user named it, so it is not
// confined to the model's folder, but it must be one regular safetensors file (not a FIFO, not a folder).
void take_weights_file(ComponentSource& component, const fs::path& file) {
  const std::string given = "--component " + component.name + "=" + file.string();
  std::error_code ec;
  const auto status = fs::status(file, ec);
  if (ec || !fs::exists(status)) throw InputError(given, "names no file", "check the path");
  if (!fs::is_regular_file(status))
    throw InputError(given, "names something that is not a regular file", "give a .safetensors file");
  if (!text::ends_with(file.filename().string(), ".safetensors"))
    throw InputError(given, "names a file that is not .safetensors",
                     "give the component's weights as one .safetensors file (an index is not taken here)");
  component.weight_files = {file};
  component.index_file.reset();
  component.index_weight_map.clear();
  component.weights_file_given = true;
}

// `root` bounds what the folder's files may name: the folder itself, or the hub cache's repo folder.
ModelSource from_directory(const fs::path& dir, const fs::path& root, const ComponentFiles& component_files) {
  ModelSource source;
  source.root = dir;
  std::error_code ec;
  if (fs::is_regular_file(dir / "model_index.json", ec)) {
    source.layout = "diffusers pipeline";
    const fs::path index_file = dir / "model_index.json";
    const json index = read_json_file(index_file);
    if (!index.is_object()) throw InputError(index_file.string(), "is not a JSON object");
    for (const auto& [name, value] : index.items()) {
      if (text::starts_with(name, "_") || !value.is_array()) continue;
      if (!plain_name(name) || text::starts_with(name, "."))
        throw InputError(index_file.string(),
                         "names a component '" + shown(name) + "' that is not a folder name beside it");
      ComponentSource component{name, dir / name, std::nullopt, {}, std::nullopt, {}};
      const auto given = component_files.find(name);
      const bool folder = fs::is_directory(component.directory, ec);
      if (!folder && given == component_files.end()) continue;
      if (folder) confined(component.directory, root, index_file.string());
      // A component whose weights come from a given file needs none in its folder (the user may have
      // downloaded only its config beside the single-file checkpoint).
      if (given != component_files.end()) {
        take_weights_file(component, given->second);
      } else {
        find_weights(component, root);
        if (component.weight_files.empty()) continue;  // tokenizer, scheduler, processor...
      }
      if (folder) component.config = config_beside(component.directory);
      source.components.push_back(std::move(component));
    }
    std::stable_sort(source.components.begin(), source.components.end(),
                     [](const auto& a, const auto& b) { return pipeline_rank(a.name) < pipeline_rank(b.name); });
    if (source.components.empty())
      throw InputError(dir.string(), "model_index.json names no component folder with .safetensors weights");
    for (const auto& [name, file] : component_files)
      if (std::none_of(source.components.begin(), source.components.end(),
                       [&](const ComponentSource& c) { return c.name == name; })) {
        std::string names;
        for (const auto& c : source.components) names += (names.empty() ? "" : ", ") + c.name;
        throw InputError("--component " + name + "=" + file.string(),
                         "names a component that " + dir.string() + "/model_index.json does not list",
                         "its components with weights: " + names);
      }
    return source;
  }
  if (!component_files.empty())
    throw InputError("--component " + component_files.begin()->first + "=" + component_files.begin()->second.string(),
                     "replaces a component of a diffusers pipeline folder, and " + dir.string() + " is not one",
                     "give the file itself as the model");
  ComponentSource component{"model", dir, config_beside(dir), {}, std::nullopt, {}};
  find_weights(component, root);
  if (component.weight_files.empty()) {
    const bool pickles = !files_with_suffix(dir, ".bin").empty() || !files_with_suffix(dir, ".pt").empty();
    throw InputError(dir.string(),
                     pickles ? "has only PyTorch pickle weights (.bin/.pt); vramguard reads safetensors"
                             : "has no .safetensors weights, no index and no model_index.json",
                     pickles ? "convert them to safetensors (e.g. save_pretrained(..., safe_serialization=True))"
                             : "point at a model folder, a .safetensors file or an index");
  }
  source.layout =
      component.config ? "transformers folder" : (component.index_file ? "sharded checkpoint" : "safetensors file");
  source.components.push_back(std::move(component));
  return source;
}

bool repo_part(std::string_view part, bool first_alphanumeric) {
  if (part.empty() || part.size() > kMaxRepoPartLength) return false;
  if (first_alphanumeric && !std::isalnum(static_cast<unsigned char>(part.front()))) return false;
  if (part == "." || part == "..") return false;
  return std::all_of(part.begin(), part.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
  });
}

// A revision: a branch, tag or commit; '/' separates parts of a ref such as refs/pr/1, none of them '..'.
bool revision_name(std::string_view revision) {
  if (revision.empty() || revision.size() > kMaxRevisionLength) return false;
  for (const auto& part : text::split(revision, '/'))
    if (!repo_part(part, false)) return false;
  return true;
}

struct RepoId {
  std::string org, name, revision;
};

// org/name[@revision], parsed by hand: bounded, and never recursive (a regex overflowed the stack).
std::optional<RepoId> parse_repo_id(const std::string& argument) {
  if (argument.size() > 2 * kMaxRepoPartLength + kMaxRevisionLength + 2) return std::nullopt;
  const auto at = argument.find('@');
  const std::string id = argument.substr(0, at);
  const auto slash = id.find('/');
  if (slash == std::string::npos) return std::nullopt;
  RepoId repo{id.substr(0, slash), id.substr(slash + 1), at == std::string::npos ? "main" : argument.substr(at + 1)};
  if (!repo_part(repo.org, true) || !repo_part(repo.name, false) || !revision_name(repo.revision)) return std::nullopt;
  return repo;
}

ModelSource from_hub_cache(const RepoId& repo_id, const std::string& argument, const Environment& environment,
                           const ComponentFiles& component_files) {
  const fs::path cache = hub_cache_dir(environment);
  const fs::path repo = cache / ("models--" + repo_id.org + "--" + repo_id.name);
  std::error_code ec;
  if (!fs::is_directory(repo, ec))
    throw InputError(argument, "not a local path, and not in the Hugging Face cache (looked in " + repo.string() + ")",
                     "vramguard never downloads: fetch it first (huggingface-cli download " + repo_id.org + "/" +
                         repo_id.name + "), or set HF_HUB_CACHE / HF_HOME to the cache that has it");
  const fs::path repo_root = fs::weakly_canonical(repo, ec);
  std::string commit = repo_id.revision;
  const fs::path ref = repo / "refs" / repo_id.revision;
  if (fs::is_regular_file(ref, ec)) {
    std::ifstream in(ref);
    std::string line;
    std::getline(in, line);
    commit = std::string(text::trim(line));
    // A ref holds a commit hash; anything else is not followed anywhere.
    if (!plain_name(commit) || !repo_part(commit, false))
      throw InputError(ref.string(), "does not hold a commit hash",
                       "the cache entry is damaged; download the model again");
  }
  const fs::path snapshot = repo / "snapshots" / commit;
  if (!fs::is_directory(snapshot, ec))
    throw InputError(argument,
                     "revision '" + repo_id.revision + "' is not in the cache (looked for " + snapshot.string() + ")",
                     "available snapshots are under " + (repo / "snapshots").string());
  // Snapshot files are symlinks into the repo's blobs/: they must stay inside the repo's folder.
  ModelSource source = from_directory(snapshot, repo_root, component_files);
  source.hub_revision = commit;
  return source;
}

ModelSource resolve(const std::string& argument, const Environment& environment,
                    const ComponentFiles& component_files) {
  const fs::path path(argument);
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (ec && ec != std::errc::no_such_file_or_directory && ec != std::errc::not_a_directory)
    throw InputError(shown(argument), "cannot be examined: " + ec.message(),
                     ec == std::errc::too_many_symbolic_link_levels
                         ? "a symbolic link points back at itself; fix the link"
                         : "check the path");
  ModelSource source;
  if (fs::is_directory(status)) {
    source = from_directory(path, fs::weakly_canonical(path), component_files);
  } else if (fs::is_regular_file(status)) {
    if (!component_files.empty())
      throw InputError("--component " + component_files.begin()->first + "=" + component_files.begin()->second.string(),
                       "replaces a component of a diffusers pipeline folder, and " + shown(argument) + " is a file",
                       "give the component's file itself as the model");
    const std::string file = path.filename().string();
    const fs::path folder = path.parent_path().empty() ? fs::path(".") : path.parent_path();
    ComponentSource component{"model", folder, config_beside(folder), {}, std::nullopt, {}};
    if (text::ends_with(file, ".safetensors.index.json")) {
      read_index(component, path, fs::weakly_canonical(folder));
      source.layout = "sharded checkpoint";
    } else if (text::ends_with(file, ".safetensors")) {
      component.weight_files = {path};
      source.layout = "safetensors file";
    } else {
      throw InputError(argument, "not a .safetensors file, an index (.safetensors.index.json) or a model folder");
    }
    source.root = folder;
    source.components.push_back(std::move(component));
  } else if (fs::exists(status)) {
    throw InputError(shown(argument), "is neither a file nor a folder");
  } else if (argument.find('/') != std::string::npos && argument.front() != '/' && argument.front() != '.') {
    const auto repo = parse_repo_id(argument);
    if (!repo)
      throw InputError(
          shown(argument), "no such file or folder, and not a Hugging Face repo id",
          "a repo id is org/name or org/name@revision: letters, digits, '-', '_' and '.', at most 96 each");
    source = from_hub_cache(*repo, argument, environment, component_files);
  } else {
    throw InputError(shown(argument), "no such file or folder",
                     "give a model folder, a .safetensors file, or org/name from the Hugging Face cache");
  }
  return source;
}

}  // namespace

fs::path hub_cache_dir(const Environment& environment) {
  if (const auto it = environment.find("HF_HUB_CACHE"); it != environment.end() && !it->second.empty())
    return it->second;
  if (const auto it = environment.find("HF_HOME"); it != environment.end() && !it->second.empty())
    return fs::path(it->second) / "hub";
  const auto home = environment.find("HOME");
  return fs::path(home != environment.end() ? home->second : "/root") / ".cache" / "huggingface" / "hub";
}

ModelSource resolve_model_source(const std::string& argument, const Environment& environment,
                                 const ComponentFiles& component_files) {
  if (argument.empty()) throw UsageError("no model given", "pass a model folder, a .safetensors file or org/name");
  ModelSource source;
  try {
    source = resolve(argument, environment, component_files);
  } catch (const fs::filesystem_error& e) {
    throw InputError(shown(e.path1().empty() ? argument : e.path1().string()), "cannot be read: " + e.code().message(),
                     e.code() == std::errc::too_many_symbolic_link_levels
                         ? "a symbolic link points back at itself; fix the link"
                         : "check the path and its permissions");
  }
  source.argument = argument;
  return source;
}

}  // namespace vramguard
