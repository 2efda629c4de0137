#include "plugins/plugin_registry.hpp"

#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <system_error>
#include <thread>

#include <boost/dll/shared_library.hpp>

#include "core/text.hpp"
#include "logging/log.hpp"
#include "plugins/elf_symbols.hpp"
#include "plugins/file_security.hpp"
#include "vramguard/plugin_api.hpp"

namespace fs = std::filesystem;

namespace vramguard {

// A loaded plugin library. Libraries are never unloaded: code from them may still be referenced by
// objects, exceptions or static destructors until the process ends, so the keeper below is leaked.
class LoadedLibrary {
 public:
  explicit LoadedLibrary(const std::string& path)
      : library_(path, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local) {}
  boost::dll::shared_library& get() { return library_; }

 private:
  boost::dll::shared_library library_;
};

namespace {

std::atomic<int> g_abandoned_calls{0};

std::vector<std::shared_ptr<LoadedLibrary>>& process_lifetime_libraries() {
  static auto* keeper = new std::vector<std::shared_ptr<LoadedLibrary>>();
  return *keeper;
}

bool looks_like_shared_library(const fs::path& file) {
  const std::string name = file.filename().string();
  return text::ends_with(name, ".so") || name.find(".so.") != std::string::npos;
}

bool valid_plugin_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
  });
}

// At most three files of a list, then how many more: 300 copies of one plugin make one short line.
std::string some_files(const std::vector<std::string>& files) {
  std::vector<std::string> shown(files.begin(),
                                 files.begin() + static_cast<std::ptrdiff_t>(std::min<std::size_t>(3, files.size())));
  std::string text = text::join(shown, ", ");
  if (files.size() > shown.size()) text += " and " + std::to_string(files.size() - shown.size()) + " more";
  return text;
}

struct Candidate {
  PluginInfo info;
  std::shared_ptr<LoadedLibrary> library;
  const PluginDescriptor* descriptor = nullptr;
};

// Creates a strategy through the plugin's guarded factory; the deleter is the plugin's own.
std::shared_ptr<PlacementStrategy> make_strategy(const PluginDescriptor& descriptor, std::string& error) {
  PlacementStrategy* made = descriptor.create(error);
  if (made == nullptr) {
    if (error.empty()) error = "its factory returned no strategy";
    return nullptr;
  }
  const DestroyStrategyFunction destroy = descriptor.destroy;
  return std::shared_ptr<PlacementStrategy>(made, [destroy](PlacementStrategy* strategy) { destroy(strategy); });
}

class Scanner {
 public:
  explicit Scanner(const DiscoveryOptions& options) : options_(options) {}

  void scan_directory(const PluginSearchDir& dir) {
    std::error_code ec;
    if (!fs::is_directory(dir.path, ec)) {
      if (dir.origin == "built-in") log::debug("built-in plugin directory ", dir.path.string(), " does not exist");
      else
        log::warn("plugin directory ", dir.path.string(), " (from ", dir.origin,
                  ") does not exist or is not a directory");
      return;
    }
    std::vector<fs::path> files;
    for (fs::directory_iterator it(dir.path, ec), end; !ec && it != end; it.increment(ec))
      if (looks_like_shared_library(it->path()) && it->is_regular_file(ec)) files.push_back(it->path());
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
    std::unique_ptr<OpenedPlugin> opened;
    try {
      opened = std::make_unique<OpenedPlugin>(file);
    } catch (const std::exception& e) {
      fail(file, PluginProblem::not_a_library, std::string(e.what()) + "; remove it from the plugin directory");
      return;
    }
    if (!seen_.insert(opened->resolved()).second) {
      log::debug("plugin ", file.string(), " already examined through another search path entry");
      return;
    }
    if (const auto reason = opened->insecure_reason()) {
      if (!options_.allow_insecure) {
        fail(file, PluginProblem::insecure,
             *reason +
                 "; another user could put code there that vramguard would run. Fix the permissions "
                 "(chmod go-w, chown) or pass --allow-insecure-plugins if you trust it");
        return;
      }
      log::warn("loading insecure plugin ", file.string(), " because --allow-insecure-plugins was given: ", *reason);
    }

    // Read the exported symbols from the file itself before loading anything, with a reader that
    // checks every offset (a damaged ELF must not crash the host).
    try {
      const auto symbols = elf_section_symbols(opened->descriptor(), opened->size(), kPluginSymbolSection);
      if (std::find(symbols.begin(), symbols.end(), kPluginDescriptorSymbol) == symbols.end()) {
        fail(file, PluginProblem::no_descriptor,
             "no vramguard plugin descriptor ('" + std::string(kPluginDescriptorSymbol) +
                 "'): it is a shared library but not a vramguard plugin; plugins register with "
                 "VRAMGUARD_REGISTER_STRATEGY (see docs/writing-a-plugin.md)");
        return;
      }
    } catch (const ElfError& e) {
      fail(file, PluginProblem::not_a_library,
           std::string("not a usable shared library (") + e.what() + "); remove it from the plugin directory");
      return;
    }

    // Loaded through the descriptor that was checked: the file cannot be swapped in between.
    std::shared_ptr<LoadedLibrary> library;
    try {
      library = std::make_shared<LoadedLibrary>(opened->descriptor_path());
    } catch (const std::exception& e) {
      fail(file, PluginProblem::load_failed,
           std::string("could not be loaded: ") + e.what() + "; check its dependencies with ldd");
      return;
    }
    opened->keep_open_for_good();
    process_lifetime_libraries().push_back(library);

    const PluginDescriptor* descriptor = nullptr;
    try {
      descriptor = &library->get().get_alias<const PluginDescriptor>(kPluginDescriptorSymbol);
    } catch (const std::exception& e) {
      fail(file, PluginProblem::no_descriptor, std::string("its descriptor could not be read: ") + e.what());
      return;
    }
    // The API version is the first field and the only one read before it is checked; then the layout
    // and the standard library, before any other field is trusted.
    if (descriptor->api_version != kPluginApiVersion) {
      fail(file, PluginProblem::api_mismatch,
           "built for plugin API version " + std::to_string(descriptor->api_version) + ", this host speaks version " +
               std::to_string(kPluginApiVersion) + "; rebuild the plugin against this vramguard's SDK");
      return;
    }
    if (descriptor->layout_fingerprint != plugin_layout_fingerprint()) {
      fail(file, PluginProblem::layout_mismatch,
           "built against SDK types whose layout differs from this host's (a changed SDK without a new API version, "
           "or another compiler's ABI); rebuild the plugin against this vramguard's SDK");
      return;
    }
    if (descriptor->standard_library == nullptr ||
        std::string(descriptor->standard_library) != plugin_standard_library()) {
      fail(file, PluginProblem::layout_mismatch,
           std::string("built with the C++ standard library ABI '") +
               (descriptor->standard_library ? descriptor->standard_library : "?") + "', this host uses '" +
               plugin_standard_library() + "'; rebuild it with the same compiler settings");
      return;
    }
    if (descriptor->name == nullptr || !valid_plugin_name(descriptor->name) || descriptor->version == nullptr ||
        descriptor->description == nullptr || descriptor->create == nullptr || descriptor->destroy == nullptr ||
        descriptor->plan == nullptr || descriptor->describe_options == nullptr) {
      fail(file, PluginProblem::bad_descriptor,
           "its descriptor is incomplete: it needs a name of lower-case letters, digits, '-', '_' or '.' "
           "(at most 64), a version, a description and its four entry points");
      return;
    }

    // Make one instance now, so that a factory that fails is found at discovery, not mid-run.
    std::string error;
    if (!make_strategy(*descriptor, error)) {
      fail(file, PluginProblem::factory_failed, "its factory failed: " + error);
      return;
    }

    // The options it declares, through its own guarded entry point (like every call into plugin code).
    std::vector<StrategyOptionInfo> declared;
    error.clear();
    descriptor->describe_options(declared, error);
    if (!error.empty()) {
      fail(file, PluginProblem::bad_descriptor, "listing its options failed: " + error);
      return;
    }
    PluginInfo info{descriptor->name, descriptor->version, descriptor->description, descriptor->api_version, file,
                    origin,           std::move(declared)};
    log::debug("plugin '", info.name, "' ", info.version, " found in ", file.string(), " (", origin, ")");
    candidates.push_back({std::move(info), std::move(library), descriptor});
  }

  DiscoveryOptions options_;
  std::set<fs::path> seen_;
};

// One plan call's inputs and outcome, owned jointly by the caller and the thread that runs the plugin,
// so that a call abandoned to Ctrl-C keeps everything it reads alive until it returns.
struct PlanCall {
  ModelGraph model;
  DeviceBudget budget;
  Workload workload;
  StrategyOptions options;
  std::shared_ptr<PlacementStrategy> strategy;
  std::shared_ptr<LoadedLibrary> library;
  PlanOutcome outcome;
  std::mutex mutex;
  std::condition_variable done_signal;
  bool done = false;
};

}  // namespace

int abandoned_plugin_calls() { return g_abandoned_calls.load(); }

std::string_view plugin_problem_name(PluginProblem problem) {
  switch (problem) {
    case PluginProblem::insecure: return "insecure";
    case PluginProblem::not_a_library: return "not_a_library";
    case PluginProblem::no_descriptor: return "no_descriptor";
    case PluginProblem::load_failed: return "load_failed";
    case PluginProblem::api_mismatch: return "api_mismatch";
    case PluginProblem::layout_mismatch: return "layout_mismatch";
    case PluginProblem::bad_descriptor: return "bad_descriptor";
    case PluginProblem::factory_failed: return "factory_failed";
    case PluginProblem::duplicate_name: return "duplicate_name";
  }
  return "unknown";
}

StrategyInstance::StrategyInstance(std::shared_ptr<LoadedLibrary> library, const PluginDescriptor* descriptor,
                                   PluginInfo info)
    : library_(std::move(library)), descriptor_(descriptor), info_(std::move(info)) {
  std::string error;
  strategy_ = make_strategy(*descriptor_, error);
  if (!strategy_) throw PluginError(info_.name, info_.file.string(), "failed to start: " + error);
}
StrategyInstance::StrategyInstance(StrategyInstance&&) noexcept = default;
StrategyInstance& StrategyInstance::operator=(StrategyInstance&&) noexcept = default;
StrategyInstance::~StrategyInstance() = default;

Placement StrategyInstance::plan(const PlanRequest& request, const std::atomic<bool>* cancel) const {
  PlanOutcome outcome;
  if (cancel == nullptr) {
    descriptor_->plan(*strategy_, request, outcome);
  } else {
    auto call = std::make_shared<PlanCall>();
    call->model = request.model;
    call->budget = request.budget;
    call->workload = request.workload;
    call->options = request.options;
    call->strategy = strategy_;
    call->library = library_;
    const PlanFunction guarded_plan = descriptor_->plan;
    std::thread([call, guarded_plan] {
      PlanOutcome result;
      guarded_plan(*call->strategy, {call->model, call->budget, call->workload, call->options}, result);
      std::lock_guard lock(call->mutex);
      call->outcome = std::move(result);
      call->done = true;
      call->done_signal.notify_all();
    }).detach();
    std::unique_lock lock(call->mutex);
    while (!call->done) {
      if (cancel->load()) {
        ++g_abandoned_calls;  // it runs on; the process ends without waiting for it
        throw Interrupted("planning with '" + info_.name + "' was interrupted");
      }
      call->done_signal.wait_for(lock, std::chrono::milliseconds(50));
    }
    outcome = std::move(call->outcome);
  }
  switch (outcome.status) {
    case PlanOutcome::Status::planned:
      outcome.placement.strategy = info_.name;  // the name it was registered and chosen under
      return std::move(outcome.placement);
    case PlanOutcome::Status::no_fit: throw NoFitError(info_.name, outcome.message, outcome.minimum_bytes);
    case PlanOutcome::Status::invalid_option: throw StrategyOptionError(info_.name, outcome.message);
    case PlanOutcome::Status::failed: break;
  }
  throw PluginError(info_.name, info_.file.string(), "failed while planning: " + outcome.message);
}

PluginRegistry PluginRegistry::discover(const std::vector<PluginSearchDir>& search_path,
                                        const DiscoveryOptions& options) {
  Scanner scanner(options);
  for (const auto& dir : search_path) scanner.scan_directory(dir);

  PluginRegistry registry;
  registry.failures_ = std::move(scanner.failures);

  std::map<std::string, std::vector<const Candidate*>> by_name;
  for (const auto& candidate : scanner.candidates) by_name[candidate.info.name].push_back(&candidate);

  for (const auto& [name, same] : by_name) {
    if (same.size() < 2) continue;
    std::vector<std::string> files;
    for (const auto* c : same) files.push_back(c->info.file.string());
    // One line per name, however many files share it.
    log::warn("plugin name '", name, "' is provided by ", files.size(), " files (", some_files(files), "); ",
              options.allow_duplicates
                  ? "using the first found, " + files.front() + " (--allow-duplicate-plugins)"
                  : std::string("none of them is used. Remove all but one, or pass --allow-duplicate-plugins "
                                "to use the first found in the search order"));
  }
  for (const auto& candidate : scanner.candidates) {
    const auto& same = by_name[candidate.info.name];
    if (same.size() > 1 && !(options.allow_duplicates && &candidate == same.front())) {
      std::vector<std::string> others;
      for (const auto* c : same)
        if (c != &candidate) others.push_back(c->info.file.string());
      const std::string message =
          "plugin name '" + candidate.info.name + "' is also provided by " + some_files(others) +
          (options.allow_duplicates
               ? "; the first found, " + same.front()->info.file.string() + ", is used instead of this one"
               : "; none of them is used. Remove all but one, or pass --allow-duplicate-plugins");
      registry.failures_.push_back({candidate.info.file, PluginProblem::duplicate_name, message});
      continue;
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
  for (const auto& entry : entries_)
    if (entry.info.name == name) return StrategyInstance(entry.library, entry.descriptor, entry.info);
  std::string hint = "known strategies: " + (plugins_.empty() ? std::string("none") : text::join(names(), ", "));
  std::size_t listed = 0;
  for (const auto& failure : failures_)
    if (++listed <= 5) hint += "\n  refused: " + failure.file.string() + ": " + failure.message;
  if (failures_.size() > 5)
    hint += "\n  and " + std::to_string(failures_.size() - 5) + " more refused (vramguard plugins lists them)";
  throw UsageError("unknown strategy '" + name + "'" + text::did_you_mean(name, names()), hint);
}

}  // namespace vramguard
