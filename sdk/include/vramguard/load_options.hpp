#pragma once
// Every option of a load as a typed field, made from the one list of declarations
// (vramguard/load_options.def): runtime::Options is this, and the CLI reads its command line, config file
// and environment into it. A field left unset (or empty, for lists) was not given: the default applies.
#include <cstdint>
#include <optional>
#include <string>

#include "vramguard/option_values.hpp"

namespace vramguard {

// Lists are empty when not given; any other value is optional.
template <class Value>
struct OptionField {
  using type = std::optional<Value>;
};
template <class Entry>
struct OptionField<std::vector<Entry>> {
  using type = std::vector<Entry>;
};
template <>
struct OptionField<StrategySettings> {
  using type = StrategySettings;
};

struct LoadOptions {
#define VRAMGUARD_OPTION(field, name, keyword, Type, group, value_name, default_text, min, max, written, help) \
  OptionField<Type>::type field;
#include "vramguard/load_options.def"
#undef VRAMGUARD_OPTION
};

}  // namespace vramguard
