#pragma once
// The load options' declarations (vramguard/load_options.def) for front ends made at run time — Python's
// keywords come from here — and the one check of a value as such a front end names it.
#include <cstdint>
#include <string>
#include <vector>

#include "vramguard/runtime/export.hpp"

namespace vramguard::runtime {

struct OptionInfo {
  std::string name;     // the CLI's: "max-memory"
  std::string keyword;  // Python's: "max_memory"; empty for none
  std::string kind;     // text, text_list, flag, count, size, device_sizes, size_for_devices, dtype, strategy_settings,
                        // typed_list, typed_value
  std::string value_name, default_text, help;
  std::uint64_t min = 0, max = 0;  // counts
};

VRAMGUARD_RUNTIME_API std::vector<OptionInfo> option_catalog();

// `text` for the option with Python's `keyword`, through its parser: the canonical text (a size in bytes),
// or a UsageError that opens with `where` ("max_memory[0] =") and says what to write.
VRAMGUARD_RUNTIME_API std::string checked_option_value(const std::string& keyword, const std::string& text,
                                                       const std::string& where);

}  // namespace vramguard::runtime
