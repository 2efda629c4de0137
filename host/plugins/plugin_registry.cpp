#include "plugins/plugin_registry.hpp"

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <system_error>

#include <boost/dll/library_info.hpp>
#include <boost/dll/shared_library.hpp>

#include "core/errors.hpp"
#include "core/text.hpp"
#include "logging/log.hpp"
#include "plugins/file_security.hpp"
#include "vramguard/plugin_api.hpp"

namespace fs = std::filesystem;

namespace vramguard {

// A loaded plugin library. Libraries are never unloaded: code from them may still be referenced by
// objects, exceptions or static destructors until the process ends, so the keeper below is leaked.
class LoadedLibrary {
 public:
  explicit LoadedLibrary(const fs::path& file)
      : library_(file, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local) {}
  boost::dll::shared_library& get() { return library_; }

 private:
  boost::dll::shared_library library_;
};

namespace {

std::vector<std::shared_ptr<LoadedLibrary>>& process_lifetime_libraries() {
  static auto* keeper = new std::vector<std::shared_ptr<LoadedLibrary>>();
  return *keeper;
}

bool looks_like_shared_library(const fs::path& file) {
  const std::string name = file.filename().string();
  return text::ends_with(name, ".so") || name.find(".so.") != std::string::npos;
}

bool has_elf_signature(const fs::path& file) {
  char magic[4] = {};
  std::ifstream in(file, std::ios::binary);
  return in.read(magic, 4) && magic[0] == 0x7f && magic[1] == 'E' && magic[2] == 'L' && magic[3] == 'F';
}

bool valid_plugin_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
  });
}

std::string version_text(int major, int minor) { return std::to_string(major) + "." + std::to_string(minor); }

struct Candidate {
  PluginInfo info;
  std::shared_ptr<LoadedLibrary> library;
  const PluginDescriptor* descriptor = nullptr;
};

class Scanner {
 public:
  explicit Scanner(const DiscoveryOptions& options) : options_(options) {}

  void scan_directory(const PluginSearchDir& dir) {
    std::error_code ec;
    if (!fs::is_directory(dir.path, ec)) {
      if (dir.origin == "built-in") {
        log::debug("built-in plugin directory ", dir.path.string(), " does not exist");
      } else {
        log::warn("plugin directory ", dir.path.string(), " (from ", dir.origin, ") does not exist or is not a directory");
      }
      return;
    }
    std::vector<fs::path> files;
    for (fs::directory_iterator it(dir.path, ec), end; !ec && it != end; it.increment(ec)) {
      if (looks_like_shared_library(it->path()) && it->is_regular_file(ec)) files.push_back(it->path());
    }
    if (ec) log::warn("could not list plugin directory ", dir.path.string(), ": ", ec.message());
    std::sort(files.begin(), files.end());  // a stable order, so "the first found" means something
    for (const auto& file : files) examine(file, dir.origin);
  }

  std::vector<Candidate> candidates;
  std::vector<PluginFailure> failures;

 private:
  void fail(const fs::path& file, PluginProblem problem, std::string message) {
    log::warn("plugin ", file.string(), " refused: ", message);
    failures.push_back({file, problem, std::move(message)});
  }

  void examine(const fs::path& file, const std::string& origin) {
    std::error_code ec;
    const fs::path canonical = fs::canonical(file, ec);
    if (!ec && !seen_.insert(canonical).second) {
      log::debug("plugin ", file.string(), " already examined through another search path entry");
      return;
    }
    if (const auto reason = insecure_plugin_reason(file)) {
      if (!options_.allow_insecure) {
        fail(file, PluginProblem::insecure,
             *reason + "; another user could put code in it that vramguard would run. Fix the permissions "
                       "(chmod go-w) or pass --allow-insecure-plugins if you trust it");
        return;
      }
      log::warn("loading insecure plugin ", file.string(), " because --allow-insecure-plugins was given: ", *reason);
    }

    if (!has_elf_signature(file)) {
      fail(file, PluginProblem::not_a_library,
           "not a shared library: it does not start with the ELF signature; remove it from the plugin directory");
      return;
    }
    // Read the exported symbols from the file itself before loading anything.
    try {
      boost::dll::library_info info(file, true);
      const auto symbols = info.symbols(kPluginSymbolSection);
      if (std::find(symbols.begin(), symbols.end(), kPluginDescriptorSymbol) == symbols.end()) {
        fail(file, PluginProblem::no_descriptor,
             "no vramguard plugin descriptor ('" + std::string(kPluginDescriptorSymbol) +
                 "'): it is a shared library but not a vramguard plugin; plugins register with "
                 "VRAMGUARD_REGISTER_STRATEGY (see docs/writing-a-plugin.md)");
        return;
      }
    } catch (const std::exception& e) {
      fail(file, PluginProblem::not_a_library,
           std::string("not a shared library for this platform (") + e.what() + "); remove it from the plugin directory");
      return;
    }

    std::shared_ptr<LoadedLibrary> library;
    try {
      library = std::make_shared<LoadedLibrary>(file);
    } catch (const std::exception& e) {
      fail(file, PluginProblem::load_failed,
           std::string("could not be loaded: ") + e.what() + "; check its dependencies with ldd");
      return;
    }
    process_lifetime_libraries().push_back(library);

    const PluginDescriptor* descriptor = nullptr;
    try {
      descriptor = &library->get().get_alias<const PluginDescriptor>(kPluginDescriptorSymbol);
    } catch (const std::exception& e) {
      fail(file, PluginProblem::no_descriptor, std::string("its descriptor could not be read: ") + e.what());
      return;
    }
    if (descriptor == nullptr) {
      fail(file, PluginProblem::no_descriptor, "its descriptor symbol points nowhere");
      return;
    }
    // The API version is the first field and the only one read before it is checked.
    if (descriptor->api_version != kPluginApiVersion) {
      fail(file, PluginProblem::api_mismatch,
           "built for plugin API version " + std::to_string(descriptor->api_version) +
               ", this host speaks version " + std::to_string(kPluginApiVersion) +
               "; rebuild the plugin against this vramguard's SDK");
      return;
    }
    if (descriptor->torch_major != 0 &&
        (descriptor->torch_major != options_.host_torch_major || descriptor->torch_minor != options_.host_torch_minor)) {
      fail(file, PluginProblem::torch_mismatch,
           "built against libtorch " + version_text(descriptor->torch_major, descriptor->torch_minor) +
               ", this host uses libtorch " + version_text(options_.host_torch_major, options_.host_torch_minor) +
               "; rebuild the plugin against the same libtorch");
      return;
    }
    if (descriptor->name == nullptr || !valid_plugin_name(descriptor->name) || descriptor->version == nullptr ||
        descriptor->description == nullptr || descriptor->create == nullptr) {
      fail(file, PluginProblem::bad_descriptor,
           "its descriptor is incomplete: it needs a name of lower-case letters, digits, '-', '_' or '.' "
           "(at most 64), a version, a description and a factory");
      return;
    }

    // Make one instance now, so that a factory that fails is found at discovery, not mid-run.
    try {
      if (!descriptor->create()) {
        fail(file, PluginProblem::factory_failed, "its factory returned no strategy");
        return;
      }
    } catch (const std::exception& e) {
      fail(file, PluginProblem::factory_failed, std::string("its factory threw: ") + e.what());
      return;
    } catch (...) {
      fail(file, PluginProblem::factory_failed, "its factory threw something that is not a std::exception");
      return;
    }

    PluginInfo info{descriptor->name, descriptor->version, descriptor->description, descriptor->api_version,
                    descriptor->torch_major, descriptor->torch_minor, file, origin};
    log::debug("plugin '", info.name, "' ", info.version, " found in ", file.string(), " (", origin, ")");
    candidates.push_back({std::move(info), std::move(library), descriptor});
  }

  DiscoveryOptions options_;
  std::set<fs::path> seen_;
};

}  // namespace

std::string_view plugin_problem_name(PluginProblem problem) {
  switch (problem) {
    case PluginProblem::insecure: return "insecure";
    case PluginProblem::not_a_library: return "not_a_library";
    case PluginProblem::no_descriptor: return "no_descriptor";
    case PluginProblem::load_failed: return "load_failed";
    case PluginProblem::api_mismatch: return "api_mismatch";
    case PluginProblem::torch_mismatch: return "torch_mismatch";
    case PluginProblem::bad_descriptor: return "bad_descriptor";
    case PluginProblem::factory_failed: return "factory_failed";
    case PluginProblem::duplicate_name: return "duplicate_name";
  }
  return "unknown";
}

StrategyInstance::StrategyInstance(std::shared_ptr<LoadedLibrary> library, std::unique_ptr<PlacementStrategy> strategy,
                                   PluginInfo info)
    : library_(std::move(library)), strategy_(std::move(strategy)), info_(std::move(info)) {}
StrategyInstance::StrategyInstance(StrategyInstance&&) noexcept = default;
StrategyInstance& StrategyInstance::operator=(StrategyInstance&&) noexcept = default;
StrategyInstance::~StrategyInstance() = default;

PluginRegistry PluginRegistry::discover(const std::vector<PluginSearchDir>& search_path, const DiscoveryOptions& options) {
  Scanner scanner(options);
  for (const auto& dir : search_path) scanner.scan_directory(dir);

  PluginRegistry registry;
  registry.failures_ = std::move(scanner.failures);

  std::map<std::string, std::vector<const Candidate*>> by_name;
  for (const auto& candidate : scanner.candidates) by_name[candidate.info.name].push_back(&candidate);

  for (const auto& candidate : scanner.candidates) {
    const auto& same = by_name[candidate.info.name];
    if (same.size() > 1) {
      const Candidate* first = same.front();
      std::vector<std::string> files;
      for (const auto* c : same) files.push_back(c->info.file.string());
      if (&candidate == first && options.allow_duplicates) {
        log::warn("plugin name '", candidate.info.name, "' is provided by ", text::join(files, " and "),
                  "; using the first found, ", first->info.file.string(), " (--allow-duplicate-plugins)");
      } else {
        const std::string message =
            "plugin name '" + candidate.info.name + "' is provided by more than one file: " + text::join(files, " and ") +
            (options.allow_duplicates
                 ? "; the first found, " + first->info.file.string() + ", is used instead of this one"
                 : "; none of them is used. Remove all but one, or pass --allow-duplicate-plugins to use the "
                   "first found in the search order");
        log::warn("plugin ", candidate.info.file.string(), " refused: ", message);
        registry.failures_.push_back({candidate.info.file, PluginProblem::duplicate_name, message});
        continue;
      }
    }
    registry.plugins_.push_back(candidate.info);
    registry.entries_.push_back({candidate.info, candidate.library, candidate.descriptor});
  }
  return registry;
}

std::vector<std::string> PluginRegistry::names() const {
  std::vector<std::string> out;
  for (const auto& plugin : plugins_) out.push_back(plugin.name);
  return out;
}

const PluginInfo* PluginRegistry::find(const std::string& name) const {
  for (const auto& plugin : plugins_)
    if (plugin.name == name) return &plugin;
  return nullptr;
}

StrategyInstance PluginRegistry::create(const std::string& name) const {
  for (const auto& entry : entries_) {
    if (entry.info.name != name) continue;
    std::unique_ptr<PlacementStrategy> strategy;
    try {
      strategy = entry.descriptor->create();
    } catch (const std::exception& e) {
      throw JobError("strategy plugin '" + name + "' (" + entry.info.file.string() + ") failed to start: " + e.what());
    }
    if (!strategy) throw JobError("strategy plugin '" + name + "' (" + entry.info.file.string() + ") made no strategy");
    return StrategyInstance(entry.library, std::move(strategy), entry.info);
  }
  std::string hint = "known strategies: " + (plugins_.empty() ? std::string("none") : text::join(names(), ", "));
  for (const auto& failure : failures_)
    hint += "\n  refused: " + failure.file.string() + ": " + failure.message;
  throw UsageError("unknown strategy '" + name + "'" + text::did_you_mean(name, names()), hint);
}

}  // namespace vramguard
