#pragma once
// Plugin discovery: scans the search path, vets each library before and after loading it, and keeps
// the good ones. A bad plugin registers nothing and never stops the host: it becomes a PluginFailure
// that names the file and the reason. Every call into plugin code goes through StrategyInstance,
// which reaches it only through the plugin's guarded entry points.
#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/errors.hpp"
#include "plugins/plugin_search_path.hpp"
#include "vramguard/strategy.hpp"

namespace vramguard {

struct PluginDescriptor;

enum class PluginProblem {
  insecure,         // writable by other users (or through a folder they can write), and not allowed
  not_a_library,    // not a shared library of this platform, or a damaged one
  no_descriptor,    // a library, but no vramguard_plugin registration record
  load_failed,      // dlopen failed (missing dependency, wrong architecture...)
  api_mismatch,     // built for another plugin API version
  layout_mismatch,  // built against SDK types of another layout, or another C++ standard library ABI
  bad_descriptor,   // empty name, missing entry points...
  factory_failed,   // the factory threw or returned nothing
  duplicate_name,   // another plugin has the same name
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
  std::filesystem::path file;
  std::string origin;                       // which search-path entry found it
  std::vector<StrategyOptionInfo> options;  // what it declares it reads ([strategy.NAME], --option)
};

struct DiscoveryOptions {
  bool allow_insecure = false;    // --allow-insecure-plugins
  bool allow_duplicates = false;  // --allow-duplicate-plugins: the first found wins
};

// A strategy option the plugin refused: the user's input, so exit 2.
class StrategyOptionError : public UsageError {
 public:
  StrategyOptionError(const std::string& strategy, const std::string& message)
      : UsageError("strategy '" + strategy + "': " + message, "see docs/strategies.md for each strategy's options") {}
};

class LoadedLibrary;

// A strategy made by a plugin. Holds its library, so the code it runs cannot be unloaded under it.
class StrategyInstance {
 public:
  StrategyInstance(std::shared_ptr<LoadedLibrary> library, const PluginDescriptor* descriptor, PluginInfo info);
  StrategyInstance(StrategyInstance&&) noexcept;
  StrategyInstance& operator=(StrategyInstance&&) noexcept;
  ~StrategyInstance();

  const PluginInfo& info() const { return info_; }
  // Plans through the plugin's guarded entry point. Returns the placement, named as the plugin was
  // registered; throws NoFitError, StrategyOptionError, PluginError naming the plugin and its file, or
  // Interrupted when `cancel` is set first (the plugin's call then finishes on its own thread).
  Placement plan(const PlanRequest& request, const std::atomic<bool>* cancel = nullptr) const;

 private:
  std::shared_ptr<LoadedLibrary> library_;
  std::shared_ptr<PlacementStrategy> strategy_;  // destroyed through the plugin's own entry point
  const PluginDescriptor* descriptor_ = nullptr;
  PluginInfo info_;
};

// Plugin calls abandoned to Ctrl-C and still running: the process must then end without running
// static destructors under them (the CLI's main checks).
int abandoned_plugin_calls();

class PluginRegistry {
 public:
  static PluginRegistry discover(const std::vector<PluginSearchDir>& search_path, const DiscoveryOptions& options);

  const std::vector<PluginInfo>& plugins() const { return plugins_; }
  const std::vector<PluginFailure>& failures() const { return failures_; }
  std::vector<std::string> names() const;
  const PluginInfo* find(const std::string& name) const;

  // Throws UsageError naming the unknown strategy, the nearest known one and the plugins refused;
  // PluginError when the plugin's factory fails now.
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
