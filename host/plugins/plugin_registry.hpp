#pragma once
// Plugin discovery: scans the search path, vets each library before and after loading it, and keeps
// the good ones. A bad plugin registers nothing and never stops the host: it becomes a PluginFailure
// that names the file and the reason.
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "plugins/plugin_search_path.hpp"

namespace vramguard {

class PlacementStrategy;
struct PluginDescriptor;

enum class PluginProblem {
  insecure,           // writable by other users, and --allow-insecure-plugins not given
  not_a_library,      // not a shared library of this platform
  no_descriptor,      // a library, but no vramguard_plugin registration record
  load_failed,        // dlopen failed (missing dependency, wrong architecture...)
  api_mismatch,       // built for another plugin API version
  torch_mismatch,     // built against another libtorch major.minor
  bad_descriptor,     // empty name, missing factory...
  factory_failed,     // the factory threw or returned nothing
  duplicate_name,     // another plugin has the same name
};
std::string_view plugin_problem_name(PluginProblem problem);

struct PluginFailure {
  std::filesystem::path file;
  PluginProblem problem;
  std::string message;  // the full sentence: file, reason, and what to do
};

struct PluginInfo {
  std::string name;
  std::string version;
  std::string description;
  int api_version = 0;
  int torch_major = 0;
  int torch_minor = 0;
  std::filesystem::path file;
  std::string origin;  // which search-path entry found it
};

struct DiscoveryOptions {
  bool allow_insecure = false;    // --allow-insecure-plugins
  bool allow_duplicates = false;  // --allow-duplicate-plugins: the first found wins
  int host_torch_major = 0;
  int host_torch_minor = 0;
};

class LoadedLibrary;

// A strategy made by a plugin. Holds its library, so the code it runs cannot be unloaded under it.
class StrategyInstance {
 public:
  StrategyInstance(std::shared_ptr<LoadedLibrary> library, std::unique_ptr<PlacementStrategy> strategy,
                   PluginInfo info);
  StrategyInstance(StrategyInstance&&) noexcept;
  StrategyInstance& operator=(StrategyInstance&&) noexcept;
  ~StrategyInstance();

  const PlacementStrategy& strategy() const { return *strategy_; }
  const PluginInfo& info() const { return info_; }

 private:
  std::shared_ptr<LoadedLibrary> library_;         // declared first: destroyed last
  std::unique_ptr<PlacementStrategy> strategy_;
  PluginInfo info_;
};

class PluginRegistry {
 public:
  static PluginRegistry discover(const std::vector<PluginSearchDir>& search_path, const DiscoveryOptions& options);

  const std::vector<PluginInfo>& plugins() const { return plugins_; }
  const std::vector<PluginFailure>& failures() const { return failures_; }
  std::vector<std::string> names() const;
  const PluginInfo* find(const std::string& name) const;

  // Throws UsageError naming the unknown strategy, the nearest known one and the plugins refused.
  StrategyInstance create(const std::string& name) const;

 private:
  struct Entry {
    PluginInfo info;
    std::shared_ptr<LoadedLibrary> library;
    const PluginDescriptor* descriptor = nullptr;
  };
  std::vector<PluginInfo> plugins_;
  std::vector<Entry> entries_;
  std::vector<PluginFailure> failures_;
};

}  // namespace vramguard
