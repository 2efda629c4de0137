#include "config/option_table.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <type_traits>

#include "config/invocation.hpp"
#include "core/errors.hpp"

namespace vramguard {
namespace {

namespace po = boost::program_options;

template <class Value>  // any other value read by its type's parser (Fp8Scales)
struct KindOf {
  static constexpr OptionKind kind = OptionKind::typed_value;
};
template <class Entry>  // a list of typed entries (LoraFiles, NamedComponents)
struct KindOf<std::vector<Entry>> {
  static constexpr OptionKind kind = OptionKind::typed_list;
};
template <class Value>
constexpr OptionKind kind_of() {
  return KindOf<Value>::kind;
}
template <>
constexpr OptionKind kind_of<std::string>() {
  return OptionKind::text;
}
template <>
constexpr OptionKind kind_of<TextList>() {
  return OptionKind::text_list;
}
template <>
constexpr OptionKind kind_of<bool>() {
  return OptionKind::flag;
}
template <>
constexpr OptionKind kind_of<std::uint64_t>() {
  return OptionKind::count;
}
template <>
constexpr OptionKind kind_of<ByteSize>() {
  return OptionKind::size;
}
template <>
constexpr OptionKind kind_of<DeviceSizes>() {
  return OptionKind::device_sizes;
}
template <>
constexpr OptionKind kind_of<SizeForDevices>() {
  return OptionKind::size_for_devices;
}
template <>
constexpr OptionKind kind_of<LoadDType>() {
  return OptionKind::dtype;
}
template <>
constexpr OptionKind kind_of<StrategySettings>() {
  return OptionKind::strategy_settings;
}

// Where a value came from, as its error names it: --max-memory, VRAMGUARD_MAX_MEMORY, or the config's
// key and line.
std::string where(const Invocation& invocation, std::string_view name) {
  const auto source = invocation.sources.find(std::string(name));
  return source != invocation.sources.end() ? source->second : "--" + std::string(name);
}

template <class Typed>
Typed typed_value(const std::string& text, const std::string& where) {
  try {
    return Typed(text);
  } catch (const InvalidOptionValue& e) {
    throw UsageError(where + " '" + text + "' " + e.what(), e.hint());
  }
}

std::uint64_t count_value(const OptionDeclaration& option, const std::string& text, const std::string& where) {
  std::uint64_t parsed = 0;
  // Digits only: boost would read "-1" as 2^64 - 1, and strtoull skips spaces and signs.
  const bool digits = !text.empty() && text.size() <= 20 && std::all_of(text.begin(), text.end(), ::isdigit);
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), parsed);
  if (!digits || error != std::errc() || end != text.data() + text.size() || parsed < option.min || parsed > option.max)
    throw UsageError(where + " '" + text + "' is not an integer from " + std::to_string(option.min) + " to " +
                     std::to_string(option.max));
  return parsed;
}

bool flag_value(const std::string& text, const std::string& where) {
  std::string lower = text;
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower == "true" || lower == "1" || lower == "yes" || lower == "on") return true;
  if (lower == "false" || lower == "0" || lower == "no" || lower == "off") return false;
  throw UsageError(where + " '" + text + "' is not true or false");
}

std::pair<std::string, std::string> strategy_setting(const std::string& entry, const std::string& where) {
  const auto eq = entry.find('=');
  if (eq == std::string::npos || eq == 0)
    throw UsageError(where + " '" + entry + "' is not KEY=VALUE",
                     "e.g. --option prefetch=2, or --option balanced.low_zero=true");
  return {entry.substr(0, eq), entry.substr(eq + 1)};
}

// A list option's entries: repeated on the command line, or comma-separated in one value (a config key).
std::vector<std::string> comma_parts(const std::string& value) {
  std::vector<std::string> parts;
  std::size_t begin = 0;
  while (begin <= value.size()) {
    const auto comma = value.find(',', begin);
    const auto end = comma == std::string::npos ? value.size() : comma;
    std::string part = value.substr(begin, end - begin);
    const auto first = part.find_first_not_of(" \t"), last = part.find_last_not_of(" \t");
    if (first != std::string::npos) parts.push_back(part.substr(first, last - first + 1));
    if (comma == std::string::npos) break;
    begin = comma + 1;
  }
  return parts;
}

// Reading one option of an invocation into its typed field.
void read(const Invocation& invocation, const OptionDeclaration& option, std::optional<std::string>& out) {
  out = invocation.text(std::string(option.name));
}
void read(const Invocation& invocation, const OptionDeclaration& option, TextList& out) {
  out = invocation.list(std::string(option.name));
}
void read(const Invocation& invocation, const OptionDeclaration& option, std::optional<bool>& out) {
  const std::string name(option.name);
  if (invocation.values.count(name) && !invocation.values[name].defaulted()) out = invocation.values[name].as<bool>();
}
void read(const Invocation& invocation, const OptionDeclaration& option, std::optional<std::uint64_t>& out) {
  if (const auto text = invocation.text(std::string(option.name)))
    out = count_value(option, *text, where(invocation, option.name));
}
void read(const Invocation& invocation, const OptionDeclaration& option, StrategySettings& out) {
  for (const auto& entry : invocation.list(std::string(option.name))) {
    auto [key, value] = strategy_setting(entry, where(invocation, option.name));
    out[key] = value;
  }
}
template <class Entry>
void read(const Invocation& invocation, const OptionDeclaration& option, std::vector<Entry>& out) {
  for (const auto& value : invocation.list(std::string(option.name)))
    for (const auto& part : comma_parts(value)) out.push_back(typed_value<Entry>(part, where(invocation, option.name)));
}
template <class Typed>
void read(const Invocation& invocation, const OptionDeclaration& option, std::optional<Typed>& out) {
  if (const auto text = invocation.text(std::string(option.name)))
    out = typed_value<Typed>(*text, where(invocation, option.name));
}

// And back to text.
using Settings = std::vector<std::pair<std::string, std::string>>;
template <class Value>
void add(Settings& settings, std::string_view name, const std::optional<Value>& value) {
  if (value) settings.emplace_back(name, option_text(*value));
}
void add(Settings& settings, std::string_view name, const TextList& values) {
  for (const auto& value : values) settings.emplace_back(name, value);
}
template <class Entry>
void add(Settings& settings, std::string_view name, const std::vector<Entry>& values) {
  for (const auto& value : values) settings.emplace_back(name, option_text(value));
}
void add(Settings& settings, std::string_view name, const StrategySettings& values) {
  for (const auto& [key, value] : values) settings.emplace_back(name, key + "=" + value);
}

template <class>
constexpr bool is_list_of_entries = false;
template <class Entry>
constexpr bool is_list_of_entries<std::vector<Entry>> = true;

// One value as text, checked by its type's parser: its canonical text (a list's text as given).
template <class Typed>
std::string checked_text(const OptionDeclaration& option, const std::string& text, const std::string& where) {
  if constexpr (std::is_same_v<Typed, std::string> || std::is_same_v<Typed, TextList>) {
    return text;
  } else if constexpr (std::is_same_v<Typed, bool>) {
    return option_text(flag_value(text, where));
  } else if constexpr (std::is_same_v<Typed, std::uint64_t>) {
    return option_text(count_value(option, text, where));
  } else if constexpr (std::is_same_v<Typed, StrategySettings>) {
    strategy_setting(text, where);
    return text;
  } else if constexpr (is_list_of_entries<Typed>) {
    for (const auto& part : comma_parts(text)) typed_value<typename Typed::value_type>(part, where);
    return text;
  } else {
    return option_text(typed_value<Typed>(text, where));
  }
}

std::string help_of(const OptionDeclaration& option) {
  std::string help(option.help);
  // The range of a count, where a person would choose within it.
  if (option.kind == OptionKind::count && option.max <= 1'000'000'000)
    help += " (" + std::to_string(option.min) + "-" + std::to_string(option.max) + ")";
  return help;
}

}  // namespace

std::string OptionDeclaration::config_key() const {
  std::string key(name);
  std::replace(key.begin(), key.end(), '-', '_');
  return key;
}

std::string OptionDeclaration::environment_variable() const {
  std::string variable = "VRAMGUARD_" + config_key();
  for (auto& c : variable) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return variable;
}

const std::vector<OptionDeclaration>& option_declarations() {
  static const std::vector<OptionDeclaration> table = {
#define VRAMGUARD_OPTION(field, name, keyword, Type, group, value_name, default_text, min, max, written, help) \
  {name, keyword, kind_of<Type>(), OptionGroup::group, value_name, default_text, min, max, written, help},
#include "vramguard/load_options.def"
#undef VRAMGUARD_OPTION
  };
  return table;
}

const OptionDeclaration* option_named(std::string_view name) {
  std::string dashed(name);
  std::replace(dashed.begin(), dashed.end(), '_', '-');
  for (const auto& option : option_declarations())
    if (option.name == dashed) return &option;
  return nullptr;
}

const OptionDeclaration* option_with_keyword(std::string_view keyword) {
  for (const auto& option : option_declarations())
    if (!option.keyword.empty() && option.keyword == keyword) return &option;
  return nullptr;
}

std::string_view option_kind_name(OptionKind kind) {
  switch (kind) {
    case OptionKind::text: return "text";
    case OptionKind::text_list: return "text_list";
    case OptionKind::flag: return "flag";
    case OptionKind::count: return "count";
    case OptionKind::size: return "size";
    case OptionKind::device_sizes: return "device_sizes";
    case OptionKind::size_for_devices: return "size_for_devices";
    case OptionKind::dtype: return "dtype";
    case OptionKind::strategy_settings: return "strategy_settings";
    case OptionKind::typed_list: return "typed_list";
    case OptionKind::typed_value: return "typed_value";
  }
  return "text";
}

void declare_options(po::options_description& into, OptionGroup group) {
  for (const auto& option : option_declarations()) {
    if (option.group != group) continue;
    const std::string name(option.name), help = help_of(option), value_name(option.value_name);
    if (option.kind == OptionKind::flag) {
      into.add_options()(name.c_str(), po::bool_switch(), help.c_str());
    } else if (option.is_list()) {
      into.add_options()(name.c_str(), po::value<std::vector<std::string>>()->value_name(value_name), help.c_str());
    } else {
      auto* value = po::value<std::string>()->value_name(value_name);
      if (!option.default_text.empty()) value->default_value(std::string(option.default_text));
      into.add_options()(name.c_str(), value, help.c_str());
    }
  }
}

LoadOptions load_options_from(const Invocation& invocation) {
  LoadOptions options;
#define VRAMGUARD_OPTION(field, name, keyword, Type, group, value_name, default_text, min, max, written, help) \
  read(invocation, *option_named(name), options.field);
#include "vramguard/load_options.def"
#undef VRAMGUARD_OPTION
  return options;
}

std::string checked_option_text(const OptionDeclaration& option, const std::string& text, const std::string& where) {
#define VRAMGUARD_OPTION(field, cli_name, keyword, Type, group, value_name, default_text, min, max, written, help) \
  if (option.name == cli_name) return checked_text<Type>(option, text, where);
#include "vramguard/load_options.def"
#undef VRAMGUARD_OPTION
  return text;
}

std::vector<std::pair<std::string, std::string>> option_settings(const LoadOptions& options) {
  Settings settings;
#define VRAMGUARD_OPTION(field, name, keyword, Type, group, value_name, default_text, min, max, written, help) \
  add(settings, name, options.field);
#include "vramguard/load_options.def"
#undef VRAMGUARD_OPTION
  return settings;
}

}  // namespace vramguard
