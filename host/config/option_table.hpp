#pragma once
// The load options' declarations (vramguard/load_options.def) as data: what the CLI's parser and --help,
// the config reader, the environment, the runtime API and Python are made from, and the one place a
// given text becomes the option's typed value (LoadOptions).
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/program_options.hpp>

#include "vramguard/load_options.hpp"

namespace vramguard {

struct Invocation;

// Which commands take an option.
enum class OptionGroup {
  plugins,     // every command (global)
  model,       // every command that reads a model
  planning,    // every command that plans
  neighbours,  // other programs on simulated GPUs: doctor, fix, monitor and the commands that load
  guard,       // the commands that load
  faults,      // simulated faults, with guard
  load,        // `load` and the runtime API's Session::open
  serve,       // `serve`
};

enum class OptionKind {
  text,
  text_list,
  flag,
  count,
  size,
  device_sizes,
  size_for_devices,
  dtype,
  strategy_settings,
  typed_list,  // repeatable, or comma-separated in one value; each entry read by its type (--lora, --component)
  typed_value  // one value read by its type's parser (--fp8-scales)
};

struct OptionDeclaration {
  std::string_view name;     // --name
  std::string_view keyword;  // Python's; empty for none
  OptionKind kind;
  OptionGroup group;
  std::string_view value_name, default_text;
  std::uint64_t min = 0, max = 0;  // counts only
  bool written = false;            // a config written for a request repeats it
  std::string_view help;

  bool is_list() const {
    return kind == OptionKind::text_list || kind == OptionKind::strategy_settings || kind == OptionKind::typed_list;
  }
  std::string config_key() const;            // max_memory
  std::string environment_variable() const;  // VRAMGUARD_MAX_MEMORY
};

const std::vector<OptionDeclaration>& option_declarations();
const OptionDeclaration* option_named(std::string_view name);  // by --name, or with '_' for '-'
const OptionDeclaration* option_with_keyword(std::string_view keyword);
std::string_view option_kind_name(OptionKind kind);  // "size", "device_sizes", ...

// Adds the group's options to a command's (or the global) options.
void declare_options(boost::program_options::options_description& into, OptionGroup group);

// Every option the invocation holds, typed. UsageError naming where a value came from (--max-memory,
// VRAMGUARD_MAX_MEMORY, or the config file's line and key) with the parser's reason and what to write.
LoadOptions load_options_from(const Invocation& invocation);
// One value, checked as `where` names it (Python's keyword): its canonical text, or the UsageError.
std::string checked_option_text(const OptionDeclaration& option, const std::string& text, const std::string& where);
// The options given, back as (name, text) pairs that the same reader reads as the same values.
std::vector<std::pair<std::string, std::string>> option_settings(const LoadOptions& options);

}  // namespace vramguard
